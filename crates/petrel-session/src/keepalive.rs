//! Keep-alive timers (section 3.1.2.10). Time is passed in, never read.

use std::time::{Duration, Instant};

/// Server side: close when nothing arrived for 1.5 x keep-alive (MQTT-3.1.2-22).
/// The deadline is kept as the time it counts from (the last packet received) plus the
/// period, so that a packet costs one store, not an `Instant` addition.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServerTimer {
    /// The keep-alive period; `None`: `from` is the deadline itself.
    period: Option<Duration>,
    /// When the period started (the last packet), or the fixed deadline; `None`: stopped.
    from: Option<Instant>,
}

impl ServerTimer {
    /// A timer expiring at `deadline` (the connect timeout, before CONNECT).
    pub(crate) fn until(deadline: Instant) -> Self {
        Self {
            period: None,
            from: Some(deadline),
        }
    }

    /// Switches to keep-alive mode; 0 turns it off.
    pub(crate) fn set_keep_alive(&mut self, now: Instant, secs: u16) {
        self.period = (secs > 0).then(|| Duration::from_millis(u64::from(secs) * 1500));
        self.from = self.period.map(|_| now);
    }

    /// Stops the timer (e.g. while the broker decides on a CONNECT).
    pub(crate) fn stop(&mut self) {
        self.from = None;
    }

    /// A packet arrived.
    pub(crate) fn on_receive(&mut self, now: Instant) {
        if self.period.is_some() {
            self.from = Some(now);
        }
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        let from = self.from?;
        Some(self.period.map_or(from, |p| from + p))
    }

    pub(crate) fn expired(&self, now: Instant) -> bool {
        self.deadline().is_some_and(|d| now >= d)
    }
}

/// Client side: PINGREQ after `interval` without sending, give up when PINGRESP is late.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientTimer {
    interval: Option<Duration>,
    ping_timeout: Duration,
    last_sent: Option<Instant>,
    ping_deadline: Option<Instant>,
}

/// What the client timer wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientTick {
    Nothing,
    SendPing,
    TimedOut,
}

impl ClientTimer {
    pub(crate) fn new(now: Instant, keep_alive: u16, ping_timeout: Duration) -> Self {
        Self {
            interval: (keep_alive > 0).then(|| Duration::from_secs(u64::from(keep_alive))),
            ping_timeout,
            last_sent: Some(now),
            ping_deadline: None,
        }
    }

    pub(crate) fn on_send(&mut self, now: Instant) {
        self.last_sent = Some(now);
    }

    pub(crate) fn on_pingresp(&mut self) {
        self.ping_deadline = None;
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self.ping_deadline {
            Some(d) => Some(d),
            None => Some(self.last_sent? + self.interval?),
        }
    }

    pub(crate) fn tick(&mut self, now: Instant) -> ClientTick {
        if let Some(d) = self.ping_deadline {
            return if now >= d {
                ClientTick::TimedOut
            } else {
                ClientTick::Nothing
            };
        }
        match self.deadline() {
            Some(d) if now >= d => {
                self.ping_deadline = Some(now + self.ping_timeout);
                ClientTick::SendPing
            }
            _ => ClientTick::Nothing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_closes_at_one_and_a_half_mqtt_3_1_2_22() {
        let t0 = Instant::now();
        let mut t = ServerTimer::until(t0 + Duration::from_secs(10));
        t.set_keep_alive(t0, 10);
        assert!(!t.expired(t0 + Duration::from_millis(14_999)));
        assert!(t.expired(t0 + Duration::from_secs(15)));
        t.on_receive(t0 + Duration::from_secs(14));
        assert!(!t.expired(t0 + Duration::from_secs(28)));
        t.set_keep_alive(t0, 0);
        assert_eq!(t.deadline(), None);
    }

    #[test]
    fn client_pings_then_times_out_mqtt_3_1_2_23() {
        let t0 = Instant::now();
        let mut c = ClientTimer::new(t0, 5, Duration::from_secs(2));
        assert_eq!(c.tick(t0 + Duration::from_secs(4)), ClientTick::Nothing);
        assert_eq!(c.tick(t0 + Duration::from_secs(5)), ClientTick::SendPing);
        assert_eq!(c.tick(t0 + Duration::from_secs(6)), ClientTick::Nothing);
        assert_eq!(c.tick(t0 + Duration::from_secs(7)), ClientTick::TimedOut);
        c.on_pingresp();
        c.on_send(t0 + Duration::from_secs(7));
        assert_eq!(c.deadline(), Some(t0 + Duration::from_secs(12)));
    }
}
