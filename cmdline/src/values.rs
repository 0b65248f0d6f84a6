//! Flag values, each with its bounds, as clap value parsers: a number a user types is refused with a
//! clear message at parse time, before anything is written, rather than overflowing a computation later.

use std::time::{Duration, SystemTime};

/// Booleans as Go and Python (vSwarm) scripts write them: `true`, `True`, `1`, `yes`, and their opposites.
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "t" | "y" | "yes" => Ok(true),
        "false" | "0" | "f" | "n" | "no" => Ok(false),
        _ => Err(format!("`{s}` is not a boolean (use true or false)")),
    }
}

/// A day, the longest timeout or wait any flag takes.
pub const DAY_SECONDS: f64 = 86_400.0;

/// `value` seconds as a duration when it is a finite number above 0 and at most `max`; otherwise an error
/// naming `flag`.
pub fn check_seconds(value: f64, flag: &str, max: f64) -> Result<Duration, String> {
    if value.is_finite() && value > 0.0 && value <= max {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(format!(
            "{flag} must be a number of seconds above 0 and at most {max}, not {value}"
        ))
    }
}

/// A parser of seconds above 0 and at most `max`, as a [`Duration`].
pub fn seconds_up_to(
    max: f64,
) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    seconds_parser(false, max)
}

/// A parser of seconds from 0 (where 0 means "none" or "off") to `max`, as a [`Duration`].
pub fn seconds_from_zero_up_to(
    max: f64,
) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    seconds_parser(true, max)
}

fn seconds_parser(
    zero: bool,
    max: f64,
) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    move |s| {
        let v: f64 = s
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not a number of seconds"))?;
        let low_ok = if zero { v >= 0.0 } else { v > 0.0 };
        if v.is_finite() && low_ok && v <= max {
            Ok(Duration::from_secs_f64(v))
        } else if zero {
            Err(format!("must be from 0 to {max} seconds"))
        } else {
            Err(format!("must be above 0 and at most {max} seconds"))
        }
    }
}

/// A parser of finite numbers in `min..=max`.
pub fn number_in(
    min: f64,
    max: f64,
) -> impl Fn(&str) -> Result<f64, String> + Clone + Send + Sync + 'static {
    move |s| {
        let v: f64 = s
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not a number"))?;
        if v.is_finite() && (min..=max).contains(&v) {
            Ok(v)
        } else {
            Err(format!("must be a number from {min} to {max}"))
        }
    }
}

/// A parser of whole numbers in `min..=max`, as `T`.
pub fn whole_in<T: TryFrom<u64> + Clone + Send + Sync + 'static>(
    min: u64,
    max: u64,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static {
    move |s| {
        let refuse = || format!("must be a whole number from {min} to {max}");
        let v: u64 = s.trim().parse().map_err(|_| refuse())?;
        if !(min..=max).contains(&v) {
            return Err(refuse());
        }
        T::try_from(v).map_err(|_| refuse())
    }
}

/// A seed: any whole number from 0 to 2^64 − 1, refused in those words (not "invalid digit").
pub fn parse_seed(s: &str) -> Result<u64, String> {
    s.trim().parse().map_err(|_| {
        format!(
            "`{s}` is not a seed: a seed is a whole number from 0 to {}",
            u64::MAX
        )
    })
}

/// How far ahead an instant may be: a week.
pub const MAX_AHEAD: Duration = Duration::from_secs(7 * 86_400);

/// An instant as RFC 3339 (`2026-11-23T10:00:00Z`) or Unix seconds (`1700000000.5`), at most
/// [`MAX_AHEAD`] in the future (a typo in a year would otherwise wait forever).
pub fn parse_instant(s: &str) -> Result<SystemTime, String> {
    let at = match exact_unix_seconds(s.trim()) {
        Some(at) if at <= Duration::from_secs(1_000_000_000_000) => SystemTime::UNIX_EPOCH + at,
        _ => parse_instant_loosely(s)?,
    };
    if let Ok(ahead) = at.duration_since(SystemTime::now()) {
        if ahead > MAX_AHEAD {
            return Err(format!(
                "`{s}` is {} days from now; the start may be at most {} days ahead",
                ahead.as_secs() / 86_400,
                MAX_AHEAD.as_secs() / 86_400
            ));
        }
    }
    Ok(at)
}

/// `SECONDS[.FRACTION]` in plain digits, read exactly (to the nanosecond): a coordinator's `--start-at`
/// reaches its workers to the microsecond it was written with, not a float's rounding of it.
fn exact_unix_seconds(s: &str) -> Option<Duration> {
    let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !(fraction.is_empty() || digits(fraction)) || fraction.len() > 9 {
        return None;
    }
    let nanos = if fraction.is_empty() {
        0
    } else {
        fraction.parse::<u32>().ok()? * 10u32.pow(9 - fraction.len() as u32)
    };
    Some(Duration::new(whole.parse().ok()?, nanos))
}

/// Unix seconds in any float form (`1.7e9`), or an RFC 3339 time.
fn parse_instant_loosely(s: &str) -> Result<SystemTime, String> {
    Ok(match s.trim().parse::<f64>() {
        Ok(secs) if secs.is_finite() && (0.0..=1e12).contains(&secs) => {
            SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs)
        }
        Ok(_) => {
            return Err(format!(
                "`{s}` is not a time: Unix seconds must be 0 to 1e12"
            ))
        }
        Err(_) => humantime::parse_rfc3339_weak(s)
            .map_err(|e| format!("`{s}` is neither RFC 3339 nor Unix seconds: {e}"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_refused_with_the_range() {
        let p = seconds_up_to(DAY_SECONDS);
        assert_eq!(p("2").unwrap(), Duration::from_secs(2));
        for bad in ["0", "-1", "1e20", "NaN", "inf", "x"] {
            assert!(p(bad).is_err(), "{bad}");
        }
        assert!(p("1e20").unwrap_err().contains("at most 86400"));
        let z = seconds_from_zero_up_to(60.0);
        assert_eq!(z("0").unwrap(), Duration::ZERO);
        assert!(z("-1").is_err() && z("61").unwrap_err().contains("from 0 to 60"));
        let n = number_in(0.0, 1.0);
        assert_eq!(n("0.5").unwrap(), 0.5);
        assert!(n("NaN").is_err() && n("1.5").is_err());
        let w = whole_in::<u32>(1, 10);
        assert_eq!(w("10").unwrap(), 10);
        assert!(w("0").unwrap_err().contains("from 1 to 10"));
        assert!(w("-3").is_err() && w("99999999999999999999").is_err());
        assert!(check_seconds(1e20, "--x", DAY_SECONDS).is_err());
        assert_eq!(parse_seed("18446744073709551615").unwrap(), u64::MAX);
        assert!(parse_seed("-1")
            .unwrap_err()
            .contains("whole number from 0 to"));
        assert!(parse_bool("True").unwrap() && !parse_bool("no").unwrap());
        assert!(parse_bool("maybe")
            .unwrap_err()
            .contains("`maybe` is not a boolean"));
    }

    #[test]
    fn instants_are_bounded() {
        assert_eq!(
            parse_instant("1700000000.5").unwrap(),
            SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_500)
        );
        assert!(parse_instant("2026-11-23T10:00:00Z").is_ok());
        // Plain digits are read exactly: a start time written to the microsecond arrives unrounded.
        assert_eq!(
            parse_instant("1764000000.123456").unwrap(),
            SystemTime::UNIX_EPOCH + Duration::new(1_764_000_000, 123_456_000)
        );
        assert!(parse_instant("9999-01-01T00:00:00Z")
            .unwrap_err()
            .contains("at most 7 days ahead"));
        assert!(parse_instant("1e300").is_err());
        assert!(parse_instant("tomorrow")
            .unwrap_err()
            .contains("neither RFC 3339"));
    }
}
