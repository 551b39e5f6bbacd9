//! Budgets: monthly and daily USD limits per label value (a user, a feature, a team…), with
//! a default for values that have none of their own.
//!
//! Budgets own their spend: [`Spend::add`] adds each priced call's cost to a `PeriodSpend`
//! series keyed by the label value and the calendar period (UTC) of the record's timestamp, so
//! the period's spend lives in the store and survives restarts, and [`prune_past_periods`]
//! deletes periods that are over. At scrape time [`Budgets::gauges`] turns the current periods
//! into `bedrock_budget_usd` and `bedrock_budget_spend_usd`. A new period starts from zero at
//! the UTC boundary, without any reset.

use std::collections::HashSet;

use rust_decimal::Decimal;

use crate::ledger::{Ledger, Metric, Sym};
use crate::timefmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    Month,
    Day,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Month => "month",
            Period::Day => "day",
        }
    }

    pub fn parse(s: &str) -> Option<Period> {
        [Period::Month, Period::Day]
            .into_iter()
            .find(|p| p.as_str() == s)
    }

    /// The key of the period before the one `unix` falls in.
    pub fn previous_key(self, unix: i64) -> String {
        match self {
            Period::Day => self.key(unix - 86_400),
            Period::Month => {
                let (y, m, _) = timefmt::civil_from_days(unix.div_euclid(86_400));
                let (y, m) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
                format!("{y:04}-{m:02}")
            }
        }
    }

    /// The period's number since the epoch (days, or months), to compare periods cheaply.
    fn index(self, unix: i64) -> i64 {
        let days = unix.div_euclid(86_400);
        match self {
            Period::Day => days,
            Period::Month => {
                let (y, m, _) = timefmt::civil_from_days(days);
                y * 12 + i64::from(m)
            }
        }
    }

    /// The key of the period after the one `unix` falls in.
    pub fn next_key(self, unix: i64) -> String {
        match self {
            Period::Day => self.key(unix + 86_400),
            Period::Month => {
                let (y, m, _) = timefmt::civil_from_days(unix.div_euclid(86_400));
                let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                format!("{y:04}-{m:02}")
            }
        }
    }

    /// The period a Unix time falls in: `2026-11` or `2026-11-23` (UTC).
    pub fn key(self, unix: i64) -> String {
        let date = timefmt::format_date(unix.div_euclid(86_400));
        match self {
            Period::Month => date[..7].to_string(),
            Period::Day => date,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    pub name: String,
    /// The label whose values are budgeted: `user`, `feature`, or a configured extra label.
    pub label: String,
    /// `None`: the default for every value without a budget of its own on this label.
    pub subject: Option<String>,
    pub limits: Vec<(Period, Decimal)>,
}

/// One exposed budget: its limit and the current period's spend.
#[derive(Debug, Clone, PartialEq)]
pub struct Gauge<'a> {
    pub budget: &'a str,
    pub period: Period,
    pub label: &'a str,
    pub subject: String,
    pub limit: Decimal,
    pub spend: Decimal,
}

/// The spend budgets need: for each budgeted (label, period), the label's dimension index.
pub struct Spend {
    tracked: Vec<(usize, Sym, Period, Sym)>,
    shape: u16,
    /// The current day and month ([`Period::index`]) at the batch being accounted.
    now: [i64; 2],
}

impl Spend {
    /// `dims` are the ledger's dimensions in order (user, feature, extra labels).
    pub fn new(ledger: &mut Ledger, periods: &[(String, Period)], dims: &[String]) -> Spend {
        let tracked = periods
            .iter()
            .filter_map(|(label, period)| {
                let dim = dims.iter().position(|d| d == label)?;
                let (l, p) = (ledger.intern(label), ledger.intern(period.as_str()));
                Some((dim, l, *period, p))
            })
            .collect();
        Spend {
            tracked,
            shape: ledger.shape(&["label", "subject", "period", "start"]),
            now: [0; 2],
        }
    }

    /// Sets the wall time the next calls are accounted at.
    pub fn set_now(&mut self, now_unix: i64) {
        self.now = [Period::Day.index(now_unix), Period::Month.index(now_unix)];
    }

    /// Adds a priced call's cost (USD units) to the period of `timestamp` of each budgeted
    /// subject; `subjects` holds the call's admitted value of each dimension. Only the
    /// periods budgets can still show count: the current one, the previous one (late
    /// records) and the next (a clock slightly behind). A backfill of older months adds no
    /// spend series that pruning would have to catch up with.
    pub fn add(&self, ledger: &mut Ledger, subjects: &[Sym], timestamp: i64, total: i128) {
        for &(dim, label, period, period_sym) in &self.tracked {
            let now = self.now[usize::from(period == Period::Month)];
            if (period.index(timestamp) - now).abs() > 1 {
                continue;
            }
            let start = ledger.intern(&period.key(timestamp));
            let vals = [label, subjects[dim], period_sym, start];
            ledger.add(Metric::PeriodSpend, self.shape, &vals, total);
        }
    }
}

/// Deletes spend of periods before the previous one: budgets show only the current period, and
/// the previous one stays for late records (as does the next, for a clock slightly behind).
pub fn prune_past_periods(ledger: &mut Ledger, now_unix: i64) {
    let keep = |period: &str, start: &str| {
        Period::parse(period).is_some_and(|p| {
            start == p.key(now_unix)
                || start == p.previous_key(now_unix)
                || start == p.next_key(now_unix)
        })
    };
    let stale: Vec<u32> = ledger
        .iter()
        .filter(|(_, k, _)| k.metric == Metric::PeriodSpend)
        .filter(|(_, k, _)| {
            let get = |n: &str| ledger.label(k, n).unwrap_or("");
            !keep(get("period"), get("start"))
        })
        .map(|(id, _, _)| id)
        .collect();
    for id in stale {
        ledger.remove(id);
    }
}

#[derive(Debug, Clone, Default)]
pub struct Budgets {
    pub list: Vec<Budget>,
}

impl Budgets {
    /// The (label, period) pairs whose spend the pipeline must accumulate.
    pub fn tracked(&self) -> Vec<(String, Period)> {
        let mut seen = HashSet::new();
        self.list
            .iter()
            .flat_map(|b| b.limits.iter().map(move |(p, _)| (b.label.clone(), *p)))
            .filter(|k| seen.insert(k.clone()))
            .collect()
    }

    /// Every budget of the periods current at `now`, with the spend so far.
    pub fn gauges<'a>(&'a self, ledger: &Ledger, now: i64) -> Vec<Gauge<'a>> {
        let mut out = Vec::new();
        for b in &self.list {
            for &(period, limit) in &b.limits {
                let key = period.key(now);
                let spend = |subject: &str| {
                    ledger.sum(
                        Metric::PeriodSpend,
                        &[
                            ("label", &b.label),
                            ("subject", subject),
                            ("period", period.as_str()),
                            ("start", &key),
                        ],
                    )
                };
                match &b.subject {
                    Some(s) => out.push(Gauge {
                        budget: &b.name,
                        period,
                        label: &b.label,
                        subject: s.clone(),
                        limit,
                        spend: spend(s),
                    }),
                    None => {
                        let own: HashSet<&str> = self
                            .list
                            .iter()
                            .filter(|o| {
                                o.label == b.label && o.limits.iter().any(|(p, _)| *p == period)
                            })
                            .filter_map(|o| o.subject.as_deref())
                            .collect();
                        for (_, k, v) in ledger
                            .iter()
                            .filter(|(_, k, _)| k.metric == Metric::PeriodSpend)
                        {
                            let get = |n: &str| ledger.label(k, n);
                            if get("label") == Some(b.label.as_str())
                                && get("period") == Some(period.as_str())
                                && get("start") == Some(key.as_str())
                            {
                                let subject = get("subject").unwrap_or_default();
                                if !own.contains(subject) {
                                    out.push(Gauge {
                                        budget: &b.name,
                                        period,
                                        label: &b.label,
                                        subject: subject.to_string(),
                                        limit,
                                        spend: Ledger::decimal(Metric::PeriodSpend, v),
                                    });
                                }
                            }
                        }
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Limits;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn period_keys_are_utc_calendar_periods() {
        let nov_30_late = 1_796_083_199; // 2026-11-30T23:59:59Z
        assert_eq!(Period::Month.key(nov_30_late), "2026-11");
        assert_eq!(Period::Month.key(nov_30_late + 1), "2026-12");
        assert_eq!(Period::Day.key(nov_30_late), "2026-11-30");
        assert_eq!(Period::Day.key(nov_30_late + 1), "2026-12-01");
        assert_eq!(Period::Month.previous_key(nov_30_late), "2026-10");
        assert_eq!(
            Period::Month.previous_key(1_767_225_600),
            "2025-12",
            "January's previous month"
        );
        assert_eq!(Period::Day.previous_key(nov_30_late + 1), "2026-11-30");
    }

    #[test]
    fn budgets_show_the_current_period_and_defaults_cover_the_rest() {
        let budgets = Budgets {
            list: vec![
                Budget {
                    name: "users".into(),
                    label: "user".into(),
                    subject: None,
                    limits: vec![(Period::Month, d("100")), (Period::Day, d("10"))],
                },
                Budget {
                    name: "alice".into(),
                    label: "user".into(),
                    subject: Some("alice".into()),
                    limits: vec![(Period::Month, d("500"))],
                },
            ],
        };
        assert_eq!(
            budgets.tracked(),
            [
                ("user".to_string(), Period::Month),
                ("user".to_string(), Period::Day)
            ]
        );
        let mut b = Ledger::new(&Limits::uniform(100, &["user"], 100));
        let add = |b: &mut Ledger, user: &str, period: &str, start: &str, v: &str| {
            b.add_named(
                Metric::PeriodSpend,
                &[
                    ("label", "user"),
                    ("subject", user),
                    ("period", period),
                    ("start", start),
                ],
                crate::money::to_units(d(v), crate::money::USD_SCALE).unwrap(),
            )
        };
        add(&mut b, "alice", "month", "2026-11", "40");
        add(&mut b, "alice", "month", "2026-10", "999");
        add(&mut b, "bob", "month", "2026-11", "7.5");
        add(&mut b, "bob", "day", "2026-11-23", "2.5");
        let now = 1_795_420_800 + 3600; // 2026-11-23T01:00:00Z
        let g = budgets.gauges(&b, now);
        let find = |budget: &str, period: Period, subject: &str| {
            g.iter()
                .find(|x| x.budget == budget && x.period == period && x.subject == subject)
                .map(|x| (x.limit, x.spend))
        };
        assert_eq!(
            find("alice", Period::Month, "alice"),
            Some((d("500"), d("40"))),
            "last month's spend is not this month's"
        );
        assert_eq!(
            find("users", Period::Month, "bob"),
            Some((d("100"), d("7.5")))
        );
        assert_eq!(find("users", Period::Day, "bob"), Some((d("10"), d("2.5"))));
        assert_eq!(
            find("users", Period::Month, "alice"),
            None,
            "alice has her own monthly budget"
        );
        assert_eq!(
            find("users", Period::Day, "alice"),
            None,
            "no spend today yet"
        );
        // the next month starts from zero without any reset
        let december = 1_796_083_200;
        assert_eq!(
            budgets
                .gauges(&b, december)
                .iter()
                .find(|x| x.budget == "alice")
                .unwrap()
                .spend,
            Decimal::ZERO
        );
    }
}
