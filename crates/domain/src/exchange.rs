//! Where a symbol trades: its exchange, that exchange's time zone, and the calendar of days it
//! may hold a session on.
//!
//! The NYSE calendar is exact ([`crate::calendar`]). For other markets no maintained Rust
//! source covers the decades a backtest reads (the calendar crates we know of cover 2020-2030
//! or the US only), so they fall back to "every weekday may trade": a holiday is then asked
//! for once and recorded as covered without a bar, which costs a request, where a wrong
//! holiday table would lose a day of data for good. Crypto pairs trade every day.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::{DateRange, Symbol, calendar};

/// Which days a market may hold a session on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Calendar {
    /// The NYSE's sessions: weekdays less its holidays and unscheduled closures.
    Nyse,
    /// Every Monday to Friday: the fallback for markets without a calendar here.
    Weekdays,
    /// Every day of the year (crypto, and markets whose week we do not know).
    EveryDay,
}

impl Calendar {
    /// Whether the market may hold a session on `date`.
    pub fn is_trading_day(self, date: NaiveDate) -> bool {
        self.closure_reason(date).is_none()
    }

    /// Why the market is closed on `date` ("weekend" or a holiday's name), `None` if it may trade.
    pub fn closure_reason(self, date: NaiveDate) -> Option<&'static str> {
        match self {
            Self::Nyse => calendar::closure_reason(date),
            Self::Weekdays if calendar::is_weekend(date) => Some("weekend"),
            Self::Weekdays | Self::EveryDay => None,
        }
    }

    /// The name of the holiday that closes the market on a weekday, if the calendar knows one.
    pub fn holiday_name(self, date: NaiveDate) -> Option<&'static str> {
        match self {
            Self::Nyse => calendar::holiday_name(date),
            Self::Weekdays | Self::EveryDay => None,
        }
    }

    /// Whether the calendar knows every closure, so that a covered trading day without a bar
    /// is a fault rather than, possibly, a holiday it does not know.
    pub fn knows_holidays(self) -> bool {
        self == Self::Nyse
    }

    /// The days of `range` the market may trade, in order.
    pub fn trading_days(self, range: DateRange) -> impl DoubleEndedIterator<Item = NaiveDate> {
        range.days().filter(move |day| self.is_trading_day(*day))
    }

    /// The smallest range inside `range` holding all of its trading days, `None` if it has none.
    pub fn trim(self, range: DateRange) -> Option<DateRange> {
        let first = self.trading_days(range).next()?;
        let last = self.trading_days(range).next_back()?;
        DateRange::new(first, last).ok()
    }

    /// `ranges` (in order, disjoint) with neighbours joined when the days between them hold no
    /// trading day: a weekend or a holiday between two covered ranges is no gap to show.
    pub fn join_closed_gaps(self, ranges: &[DateRange]) -> Vec<DateRange> {
        let mut joined: Vec<DateRange> = Vec::with_capacity(ranges.len());
        for range in ranges {
            if let Some(last) = joined.last_mut() {
                let between = last
                    .end()
                    .succ_opt()
                    .zip(range.start().pred_opt())
                    .and_then(|(first, end)| DateRange::new(first, end).ok());
                let nothing_trades = between.is_none_or(|gap| self.trim(gap).is_none());
                if nothing_trades {
                    if let Ok(wider) = DateRange::new(last.start(), range.end().max(last.end())) {
                        *last = wider;
                    }
                    continue;
                }
            }
            joined.push(*range);
        }
        joined
    }

    /// The calendar as stored and as the API sends it.
    pub fn code(self) -> &'static str {
        match self {
            Self::Nyse => "nyse",
            Self::Weekdays => "weekdays",
            Self::EveryDay => "every_day",
        }
    }

    /// The calendar a stored code names.
    pub fn from_code(code: &str) -> Option<Calendar> {
        [Self::Nyse, Self::Weekdays, Self::EveryDay]
            .into_iter()
            .find(|calendar| calendar.code() == code)
    }

    /// The name the CLI gives the calendar.
    pub fn name(self) -> &'static str {
        match self {
            Self::Nyse => "NYSE",
            Self::Weekdays => "weekdays",
            Self::EveryDay => "every day",
        }
    }
}

/// The market a symbol's daily bars come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Exchange {
    /// A short code: the market identifier (`XNYS`, `XMIL`, …), or `CRYPTO`, `FX`, `OTHER`.
    pub code: &'static str,
    /// The IANA time zone whose dates the bars are stamped in.
    #[serde(serialize_with = "time_zone_name")]
    pub time_zone: Tz,
    /// The days it may trade.
    pub calendar: Calendar,
    /// The session's local close, `None` for markets that trade round the clock (the day ends
    /// at midnight).
    #[serde(skip)]
    close: Option<NaiveTime>,
}

fn time_zone_name<S: serde::Serializer>(tz: &Tz, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(tz.name())
}

/// Hours after a session's close before its bar is final: providers publish the consolidated
/// close and volume some time after the bell, and correct them within hours.
pub const PUBLICATION_LAG_HOURS: i64 = 3;

/// Yahoo's suffixes and the markets they name, with the local close (hour, minute).
const BY_SUFFIX: &[(&str, &str, Tz, (u32, u32))] = &[
    ("L", "XLON", Tz::Europe__London, (16, 30)),
    ("IL", "XLON", Tz::Europe__London, (16, 30)),
    ("DE", "XETR", Tz::Europe__Berlin, (17, 30)),
    ("F", "XFRA", Tz::Europe__Berlin, (20, 0)),
    ("BE", "XBER", Tz::Europe__Berlin, (20, 0)),
    ("MU", "XMUN", Tz::Europe__Berlin, (22, 0)),
    ("SG", "XSTU", Tz::Europe__Berlin, (22, 0)),
    ("HM", "XHAM", Tz::Europe__Berlin, (22, 0)),
    ("DU", "XDUS", Tz::Europe__Berlin, (22, 0)),
    ("MI", "XMIL", Tz::Europe__Rome, (17, 30)),
    ("PA", "XPAR", Tz::Europe__Paris, (17, 30)),
    ("AS", "XAMS", Tz::Europe__Amsterdam, (17, 30)),
    ("BR", "XBRU", Tz::Europe__Brussels, (17, 30)),
    ("LS", "XLIS", Tz::Europe__Lisbon, (16, 30)),
    ("MC", "XMAD", Tz::Europe__Madrid, (17, 30)),
    ("SW", "XSWX", Tz::Europe__Zurich, (17, 30)),
    ("VI", "XWBO", Tz::Europe__Vienna, (17, 30)),
    ("IR", "XDUB", Tz::Europe__Dublin, (16, 30)),
    ("ST", "XSTO", Tz::Europe__Stockholm, (17, 30)),
    ("OL", "XOSL", Tz::Europe__Oslo, (16, 30)),
    ("CO", "XCSE", Tz::Europe__Copenhagen, (17, 0)),
    ("HE", "XHEL", Tz::Europe__Helsinki, (18, 30)),
    ("WA", "XWAR", Tz::Europe__Warsaw, (17, 5)),
    ("AT", "XATH", Tz::Europe__Athens, (17, 20)),
    ("IS", "XIST", Tz::Europe__Istanbul, (18, 0)),
    ("T", "XTKS", Tz::Asia__Tokyo, (15, 30)),
    ("HK", "XHKG", Tz::Asia__Hong_Kong, (16, 10)),
    ("SS", "XSHG", Tz::Asia__Shanghai, (15, 0)),
    ("SZ", "XSHE", Tz::Asia__Shanghai, (15, 0)),
    ("KS", "XKRX", Tz::Asia__Seoul, (15, 30)),
    ("KQ", "XKOS", Tz::Asia__Seoul, (15, 30)),
    ("TW", "XTAI", Tz::Asia__Taipei, (13, 30)),
    ("TWO", "ROCO", Tz::Asia__Taipei, (13, 30)),
    ("SI", "XSES", Tz::Asia__Singapore, (17, 0)),
    ("JK", "XIDX", Tz::Asia__Jakarta, (16, 0)),
    ("KL", "XKLS", Tz::Asia__Kuala_Lumpur, (17, 0)),
    ("BK", "XBKK", Tz::Asia__Bangkok, (16, 30)),
    ("NS", "XNSE", Tz::Asia__Kolkata, (15, 30)),
    ("BO", "XBOM", Tz::Asia__Kolkata, (15, 30)),
    ("AX", "XASX", Tz::Australia__Sydney, (16, 10)),
    ("NZ", "XNZE", Tz::Pacific__Auckland, (16, 45)),
    ("TO", "XTSE", Tz::America__Toronto, (16, 0)),
    ("V", "XTSX", Tz::America__Toronto, (16, 0)),
    ("CN", "XCNQ", Tz::America__Toronto, (16, 0)),
    ("NE", "NEOE", Tz::America__Toronto, (16, 0)),
    ("SA", "BVMF", Tz::America__Sao_Paulo, (17, 0)),
    ("MX", "XMEX", Tz::America__Mexico_City, (15, 0)),
    ("BA", "XBUE", Tz::America__Argentina__Buenos_Aires, (17, 0)),
    ("JO", "XJSE", Tz::Africa__Johannesburg, (17, 0)),
];

/// Markets that have traded on Sundays (Tel Aviv until 2026, Saudi Arabia, Qatar, Kuwait,
/// Egypt): a weekday calendar would skip their sessions, so every day may trade.
const SUNDAY_MARKETS: &[(&str, &str, Tz)] = &[
    ("TA", "XTAE", Tz::Asia__Jerusalem),
    ("SR", "XSAU", Tz::Asia__Riyadh),
    ("QA", "DSMD", Tz::Asia__Qatar),
    ("KW", "XKUW", Tz::Asia__Kuwait),
    ("CA", "XCAI", Tz::Africa__Cairo),
];

/// Quote currencies of a crypto pair (`BTC-USD`, `ETH-EUR`, `SOL-USDT`).
const CRYPTO_QUOTES: &[&str] = &[
    "USD", "USDT", "USDC", "EUR", "GBP", "JPY", "CAD", "AUD", "CHF", "KRW", "BTC", "ETH",
];

/// Yahoo's `exchangeName` codes of US venues (Nasdaq tiers, NYSE, NYSE American, Arca, Cboe).
const US_VENUES: &[&str] = &[
    "NMS", "NGM", "NCM", "NAS", "NYQ", "NYS", "ASE", "AMEX", "PCX", "BTS", "BATS", "CBO", "PNK",
    "OQB", "OQX", "OTC", "NIM", "WCB", "DJI", "SNP", "NYB",
];

impl Exchange {
    /// The NYSE (and every US venue: they share its sessions).
    pub const NYSE: Exchange = Exchange {
        code: "XNYS",
        time_zone: Tz::America__New_York,
        calendar: Calendar::Nyse,
        close: Some(hm(16, 0)),
    };

    /// Crypto pairs: every day, days in UTC.
    pub const CRYPTO: Exchange = Exchange {
        code: "CRYPTO",
        time_zone: Tz::UTC,
        calendar: Calendar::EveryDay,
        close: None,
    };

    /// Currency pairs (`EURUSD=X`): weekdays, days as London dates them.
    pub const FX: Exchange = Exchange {
        code: "FX",
        time_zone: Tz::Europe__London,
        calendar: Calendar::Weekdays,
        close: None,
    };

    /// A market not known here: every weekday may trade.
    pub const OTHER: Exchange = Exchange {
        code: "OTHER",
        time_zone: Tz::UTC,
        calendar: Calendar::Weekdays,
        close: None,
    };

    /// The market a symbol trades on, from its form: a Yahoo suffix (`.MI`, `.L`, `.T`, …),
    /// a crypto pair (`BTC-USD`), a currency pair (`EURUSD=X`), a future (`ES=F`) or an index
    /// (`^GDAXI`); a plain ticker is a US listing.
    pub fn of(symbol: &Symbol) -> Exchange {
        let text = symbol.as_str();
        if text.ends_with("=X") {
            return Self::FX;
        }
        if text.ends_with("=F") || text.starts_with('^') {
            // Futures and indexes: the venue is not in the name; never skip a weekday.
            return Exchange {
                code: "OTHER",
                ..Self::weekdays_in(Tz::America__New_York)
            };
        }
        if let Some((_, quote)) = text.rsplit_once('-')
            && CRYPTO_QUOTES.contains(&quote)
        {
            return Self::CRYPTO;
        }
        match text.rsplit_once('.') {
            Some((_, suffix)) => Self::of_suffix(suffix).unwrap_or(Self::OTHER),
            None => Self::NYSE,
        }
    }

    /// The market a provider named: Yahoo's `exchangeName` and `exchangeTimezoneName`. `None`
    /// when they say nothing we can use.
    pub fn from_provider(exchange_name: &str, time_zone: &str) -> Option<Exchange> {
        if US_VENUES.contains(&exchange_name) {
            return Some(Self::NYSE);
        }
        match exchange_name {
            "CCC" => return Some(Self::CRYPTO),
            "CCY" => return Some(Self::FX),
            _ => {}
        }
        let tz: Tz = time_zone.parse().ok()?;
        let known = BY_SUFFIX
            .iter()
            .map(|(_, code, zone, close)| (code, zone, Some(hm(close.0, close.1))))
            .chain(
                SUNDAY_MARKETS
                    .iter()
                    .map(|(_, code, zone)| (code, zone, None)),
            )
            .find(|(_, zone, _)| **zone == tz);
        Some(match known {
            Some((code, _, close)) if close.is_some() => Exchange {
                code,
                time_zone: tz,
                calendar: Calendar::Weekdays,
                close,
            },
            _ => Self::weekdays_in(tz),
        })
    }

    /// The market a store row names (`code`, `time_zone`, `calendar`, as [`Self::code`],
    /// the zone's IANA name and [`Calendar::code`] write them); `None` for a row this version
    /// cannot read.
    pub fn from_stored(code: &str, time_zone: &str, calendar: &str) -> Option<Exchange> {
        let time_zone: Tz = time_zone.parse().ok()?;
        let calendar = Calendar::from_code(calendar)?;
        let known = [Self::NYSE, Self::CRYPTO, Self::FX, Self::OTHER]
            .into_iter()
            .chain(
                BY_SUFFIX
                    .iter()
                    .filter_map(|(suffix, ..)| Self::of_suffix(suffix)),
            )
            .chain(
                SUNDAY_MARKETS
                    .iter()
                    .filter_map(|(suffix, ..)| Self::of_suffix(suffix)),
            )
            .find(|exchange| exchange.code == code)?;
        Some(Exchange {
            time_zone,
            calendar,
            ..known
        })
    }

    fn of_suffix(suffix: &str) -> Option<Exchange> {
        if let Some((_, code, tz)) = SUNDAY_MARKETS.iter().find(|(s, _, _)| *s == suffix) {
            return Some(Exchange {
                code,
                time_zone: *tz,
                calendar: Calendar::EveryDay,
                close: None,
            });
        }
        BY_SUFFIX
            .iter()
            .find(|(s, _, _, _)| *s == suffix)
            .map(|(_, code, tz, (hour, minute))| Exchange {
                code,
                time_zone: *tz,
                calendar: Calendar::Weekdays,
                close: Some(hm(*hour, *minute)),
            })
    }

    fn weekdays_in(time_zone: Tz) -> Exchange {
        Exchange {
            time_zone,
            ..Self::OTHER
        }
    }

    /// The instant from which the bar of `date` can be final: the session's local close (the
    /// end of the day for round-the-clock markets) plus [`PUBLICATION_LAG_HOURS`]. Early
    /// closes count as full days (later, so never too early).
    pub fn bar_final_at(&self, date: NaiveDate) -> DateTime<Utc> {
        let close = match self.close {
            Some(close) => date.and_time(close),
            None => (date + Duration::days(1)).and_time(NaiveTime::MIN),
        };
        let close_utc = self
            .time_zone
            .from_local_datetime(&close)
            .latest()
            .map(|local| local.with_timezone(&Utc))
            // A close inside a clock change's gap: a day later is never too early.
            .unwrap_or_else(|| close.and_utc() + Duration::days(1));
        close_utc + Duration::hours(PUBLICATION_LAG_HOURS)
    }
}

const fn hm(hour: u32, minute: u32) -> NaiveTime {
    match NaiveTime::from_hms_opt(hour, minute, 0) {
        Some(time) => time,
        None => NaiveTime::MIN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn symbol(text: &str) -> Symbol {
        Symbol::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    #[test]
    fn symbols_name_their_market_by_suffix_and_form() {
        assert_eq!(Exchange::of(&symbol("AAPL")), Exchange::NYSE);
        assert_eq!(Exchange::of(&symbol("BRK-B")), Exchange::NYSE);
        assert_eq!(Exchange::of(&symbol("UNIR.MI")).code, "XMIL");
        assert_eq!(Exchange::of(&symbol("VOD.L")).time_zone, Tz::Europe__London);
        assert_eq!(Exchange::of(&symbol("BTC-USD")), Exchange::CRYPTO);
        assert_eq!(Exchange::of(&symbol("EURUSD=X")), Exchange::FX);
        assert_eq!(
            Exchange::of(&symbol("TEVA.TA")).calendar,
            Calendar::EveryDay
        );
        assert_eq!(Exchange::of(&symbol("^GDAXI")).calendar, Calendar::Weekdays);
        assert_eq!(Exchange::of(&symbol("X.ZZ")), Exchange::OTHER);
    }

    #[test]
    fn a_us_holiday_is_a_trading_day_in_milan_and_for_bitcoin() {
        let mlk_2020 = date(2020, 1, 20);
        let new_year = date(2020, 1, 1);
        assert!(!Calendar::Nyse.is_trading_day(mlk_2020));
        assert!(
            Exchange::of(&symbol("UNIR.MI"))
                .calendar
                .is_trading_day(mlk_2020)
        );
        assert!(Exchange::CRYPTO.calendar.is_trading_day(new_year));
        assert!(Exchange::CRYPTO.calendar.is_trading_day(date(2020, 1, 4)));
        assert!(!Exchange::FX.calendar.is_trading_day(date(2020, 1, 4)));
        assert!(Exchange::FX.calendar.is_trading_day(new_year));
    }

    #[test]
    fn yahoo_metadata_names_the_market() {
        assert_eq!(
            Exchange::from_provider("NMS", "America/New_York"),
            Some(Exchange::NYSE)
        );
        assert_eq!(
            Exchange::from_provider("CCC", "UTC"),
            Some(Exchange::CRYPTO)
        );
        assert_eq!(
            Exchange::from_provider("CCY", "Europe/London"),
            Some(Exchange::FX)
        );
        let milan = Exchange::from_provider("MIL", "Europe/Rome");
        assert_eq!(milan.map(|e| e.code), Some("XMIL"));
        assert_eq!(Exchange::from_provider("XYZ", "Not/AZone"), None);
    }

    #[test]
    fn a_stored_market_reads_back_as_it_was_written() {
        for exchange in [
            Exchange::NYSE,
            Exchange::CRYPTO,
            Exchange::FX,
            Exchange::of(&symbol("UNIR.MI")),
            Exchange::of(&symbol("TEVA.TA")),
            Exchange::of(&symbol("^N225")),
        ] {
            let stored = Exchange::from_stored(
                exchange.code,
                exchange.time_zone.name(),
                exchange.calendar.code(),
            );
            assert_eq!(stored, Some(exchange));
        }
        assert_eq!(Exchange::from_stored("XNYS", "Mars/Olympus", "nyse"), None);
        assert_eq!(
            Exchange::from_stored("XNYS", "America/New_York", "lunar"),
            None
        );
    }

    #[test]
    fn a_bar_is_final_after_its_own_market_closes() {
        // Milan closes 17:30 CET (16:30Z) in winter: final at 19:30Z.
        let milan = Exchange::of(&symbol("UNIR.MI"));
        assert_eq!(
            milan.bar_final_at(date(2025, 12, 1)).to_rfc3339(),
            "2025-12-01T19:30:00+00:00"
        );
        // A crypto day ends at midnight UTC.
        assert_eq!(
            Exchange::CRYPTO.bar_final_at(date(2025, 7, 1)).to_rfc3339(),
            "2025-07-02T03:00:00+00:00"
        );
        // The NYSE keeps its 16:00 close plus three hours, in both seasons.
        assert_eq!(
            Exchange::NYSE.bar_final_at(date(2025, 7, 1)).to_rfc3339(),
            "2025-07-01T23:00:00+00:00"
        );
        assert_eq!(
            Exchange::NYSE.bar_final_at(date(2025, 12, 1)).to_rfc3339(),
            "2025-12-02T00:00:00+00:00"
        );
    }

    #[test]
    fn trimming_keeps_the_edges_a_market_may_trade() {
        let range =
            DateRange::new(date(2020, 1, 18), date(2020, 1, 24)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            Calendar::Nyse.trim(range).map(|r| r.start()),
            Some(date(2020, 1, 21))
        );
        assert_eq!(
            Calendar::Weekdays.trim(range).map(|r| r.start()),
            Some(date(2020, 1, 20))
        );
        assert_eq!(
            Calendar::EveryDay.trim(range).map(|r| r.start()),
            Some(date(2020, 1, 18))
        );
    }

    #[test]
    fn a_weekend_or_holiday_between_covered_ranges_is_no_gap() {
        let day = |m: u32, d: u32| NaiveDate::from_ymd_opt(2020, m, d).unwrap_or_default();
        let range =
            |a: NaiveDate, b: NaiveDate| DateRange::new(a, b).unwrap_or_else(|e| panic!("{e}"));
        let covered = [
            range(day(1, 1), day(1, 10)),  // to Friday
            range(day(1, 13), day(1, 17)), // from Monday, to the Friday before Martin Luther King Day
            range(day(1, 21), day(1, 24)), // from the Tuesday after it
            range(day(1, 28), day(1, 31)), // Monday the 27th was a trading day
        ];
        assert_eq!(
            Calendar::Nyse.join_closed_gaps(&covered),
            [range(day(1, 1), day(1, 24)), range(day(1, 28), day(1, 31))]
        );
        // Where no holiday calendar is known, the Monday holiday is a gap; crypto trades daily.
        assert_eq!(Calendar::Weekdays.join_closed_gaps(&covered).len(), 3);
        assert_eq!(Calendar::EveryDay.join_closed_gaps(&covered).len(), 4);
        assert!(Calendar::Nyse.join_closed_gaps(&[]).is_empty());
    }
}
