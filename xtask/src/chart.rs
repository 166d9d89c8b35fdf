//! The SVG chart of `cargo xtask bench`: one panel per pub/sub scenario, one horizontal bar
//! per broker, each panel on its own scale (the scenarios' rates differ by 100x).

use anyhow::{anyhow, Result};
use plotters::prelude::*;
use serde_json::Value;

/// Bar colours, one per broker in the order of the run.
const COLORS: [RGBColor; 4] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
];

/// One panel: a scenario's title and each broker's delivery rate.
pub struct Panel<'a> {
    /// Shown above the bars.
    pub title: &'a str,
    /// `(broker, deliveries per second)`, in broker order.
    pub rates: Vec<(&'a str, f64)>,
}

/// The panels of `doc` (the JSON written by the benchmark) for `scenarios` (key, title).
pub fn panels<'a>(
    doc: &Value,
    scenarios: &[(&str, &'a str)],
    brokers: &[&'a str],
) -> Vec<Panel<'a>> {
    scenarios
        .iter()
        .map(|(key, title)| Panel {
            title,
            rates: brokers
                .iter()
                .map(|b| {
                    let rate = doc["brokers"][*b][*key]["delivery_rate"].as_f64();
                    (*b, rate.unwrap_or(0.0))
                })
                .collect(),
        })
        .collect()
}

/// Renders `panels` as an SVG document.
pub fn svg(panels: &[Panel<'_>]) -> Result<String> {
    let brokers = panels.first().map_or(0, |p| p.rates.len()).max(1);
    let panel_height = 40 + 24 * brokers as u32;
    let height = 40 + panel_height * panels.len().max(1) as u32;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (900, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let root = root
            .titled(
                "cargo xtask bench: deliveries per second, zero loss, broker on one core",
                ("sans-serif", 16),
            )
            .map_err(plot_err)?;
        for (panel, area) in panels
            .iter()
            .zip(root.split_evenly((panels.len().max(1), 1)))
        {
            draw_panel(&area, panel)?;
        }
        root.present().map_err(plot_err)?;
    }
    Ok(out)
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &Panel<'_>,
) -> Result<()> {
    let max = panel.rates.iter().map(|r| r.1).fold(1.0, f64::max) * 1.25;
    let n = panel.rates.len();
    let mut chart = ChartBuilder::on(area)
        .caption(panel.title, ("sans-serif", 13))
        .margin_right(20)
        .x_label_area_size(18)
        .y_label_area_size(90)
        .build_cartesian_2d(0.0..max, (0..n).into_segmented())
        .map_err(plot_err)?;
    let names: Vec<&str> = panel.rates.iter().map(|r| r.0).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .label_style(("sans-serif", 11))
        .x_labels(5)
        .x_label_formatter(&|v| human(*v))
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => names.get(*i).map_or(String::new(), |s| (*s).to_owned()),
            _ => String::new(),
        })
        .draw()
        .map_err(plot_err)?;
    chart
        .draw_series(panel.rates.iter().enumerate().map(|(i, (_, rate))| {
            let color = COLORS[i % COLORS.len()];
            Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(i)),
                    (*rate, SegmentValue::Exact(i + 1)),
                ],
                color.filled(),
            )
        }))
        .map_err(plot_err)?;
    chart
        .draw_series(panel.rates.iter().enumerate().map(|(i, (_, rate))| {
            Text::new(
                format!("{}/s", human(*rate)),
                (*rate + max * 0.01, SegmentValue::CenterOf(i)),
                ("sans-serif", 12),
            )
        }))
        .map_err(plot_err)?;
    Ok(())
}

fn plot_err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("drawing the chart: {e}")
}

/// A rate in k or M.
pub fn human(rate: f64) -> String {
    if rate >= 1e6 {
        format!("{:.2}M", rate / 1e6)
    } else if rate >= 1e3 {
        format!("{:.1}k", rate / 1e3)
    } else {
        format!("{rate:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_names_every_scenario_broker_and_rate() {
        let doc = serde_json::json!({"brokers": {
            "petrel": {"a": {"delivery_rate": 1_500_000.0}, "b": {"delivery_rate": 20_000.0}},
            "mosquitto": {"a": {"delivery_rate": 100_000.0}},
        }});
        let panels = panels(
            &doc,
            &[("a", "scenario A"), ("b", "scenario B")],
            &["petrel", "mosquitto"],
        );
        assert_eq!(panels[1].rates[1], ("mosquitto", 0.0));
        let svg = svg(&panels).unwrap();
        for text in [
            "scenario A",
            "scenario B",
            "petrel",
            "mosquitto",
            "1.50M/s",
            "100.0k/s",
            "20.0k/s",
        ] {
            assert!(svg.contains(text), "{text} missing from the chart");
        }
        assert_eq!(
            svg.matches("<rect").count() - 1,
            4,
            "one bar per broker and scenario"
        );
    }
}
