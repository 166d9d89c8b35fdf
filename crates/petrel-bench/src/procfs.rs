//! The load generator's own resource use, read from `/proc/self` (no `unsafe`, no libc).

use std::time::Duration;

/// Clock ticks per second of the `utime`/`stime` fields; 100 on every Linux configuration
/// in use (USER_HZ).
const TICKS_PER_SEC: u64 = 100;

/// User plus system CPU time consumed by this process so far; `None` off Linux.
pub fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_cpu_ticks(&stat).map(|t| Duration::from_millis(t * 1000 / TICKS_PER_SEC))
}

/// `utime + stime` in ticks from the text of `/proc/PID/stat`. The command name (field 2)
/// may contain spaces and parentheses, so fields are counted from the last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After the name: state (3), ppid (4) ... utime is field 14, stime field 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Peak resident set size of this process in KiB (`VmHWM`); `None` off Linux.
pub fn peak_rss_kib() -> Option<u64> {
    status_field_kib(
        &std::fs::read_to_string("/proc/self/status").ok()?,
        "VmHWM:",
    )
}

/// A `kB` field of a `/proc/PID/status` text, such as `VmRSS:`.
pub fn status_field_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_command_name_parses() {
        let stat =
            "1234 (a b) c)) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 75 0 0 20 0 4 0 99 1000 50";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn status_fields_parse() {
        let status = "Name:\tx\nVmHWM:\t   2048 kB\nVmRSS:\t    1024 kB\n";
        assert_eq!(status_field_kib(status, "VmRSS:"), Some(1024));
        assert_eq!(status_field_kib(status, "VmHWM:"), Some(2048));
        assert_eq!(status_field_kib(status, "VmSwap:"), None);
    }

    #[test]
    fn own_figures_are_readable_on_linux() {
        assert!(cpu_time().is_some());
        assert!(peak_rss_kib().is_some_and(|k| k > 0));
    }
}
