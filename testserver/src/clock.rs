//! The server's clock (real time plus [`Config::clock_offset_secs`]) and HTTP dates.
//!
//! [`Config::clock_offset_secs`]: crate::Config::clock_offset_secs

use std::time::{SystemTime, UNIX_EPOCH};

/// A clock `offset` seconds off the real time.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    offset: i64,
}

impl Clock {
    /// A clock `offset` seconds ahead (negative: behind) of the real time.
    pub fn new(offset: i64) -> Clock {
        Clock { offset }
    }

    /// Seconds since the Unix epoch, rounded down.
    pub fn now(self) -> u64 {
        self.shift(real().0)
    }

    /// Seconds since the Unix epoch, rounded up.
    pub fn now_ceil(self) -> u64 {
        let (secs, nanos) = real();
        self.shift(secs + u64::from(nanos > 0))
    }

    /// The `Date` header value of now (IMF-fixdate).
    pub fn http_date(self) -> String {
        http_date(self.now())
    }

    fn shift(self, secs: u64) -> u64 {
        secs.saturating_add_signed(self.offset)
    }
}

fn real() -> (u64, u32) {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or((0, 0), |d| (d.as_secs(), d.subsec_nanos()))
}

/// An IMF-fixdate (RFC 9110 §5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rest = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{}, {day:02} {} {year:04} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[month as usize - 1],
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// (year, month 1..=12, day 1..=31) of a count of days since 1970-01-01 (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::http_date;

    #[test]
    fn http_date_is_an_imf_fixdate() {
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(http_date(4_107_542_399), "Sun, 28 Feb 2100 23:59:59 GMT");
    }
}
