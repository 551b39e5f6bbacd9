use super::*;

fn ledger(series: usize, dim_cap: usize) -> Ledger {
    Ledger::new(&Limits::uniform(series, &["user", "feature"], dim_cap))
}

/// A miniature of the pipeline's accounting: one call of `amount` by (user, feature, model).
fn call(l: &mut Ledger, user: &str, feature: &str, model: &str, amount: i128) {
    let (u, uf) = {
        let s = l.intern(user);
        l.admit(0, s)
    };
    let (f, ff) = {
        let s = l.intern(feature);
        l.admit(1, s)
    };
    let m = l.intern(model);
    let cross = l.shape(&["user", "feature", "model"]);
    l.add(Metric::Cost, cross, &[u, f, m], amount);
    let us = l.shape(&["user"]);
    l.add(Metric::UserCost, us, &[u], amount);
    if uf {
        l.count_fold(Metric::UserCost, amount);
    }
    let fs = l.shape(&["feature"]);
    l.add(Metric::FeatureCost, fs, &[f], amount);
    if ff {
        l.count_fold(Metric::FeatureCost, amount);
    }
}

#[test]
fn adds_are_exact_and_changes_tracked() {
    let mut l = ledger(10, 10);
    l.begin();
    for _ in 0..10 {
        l.add_named(
            Metric::Cost,
            &[("user", "a"), ("model", "m")],
            10_000_000_000_000_000,
        );
    }
    assert_eq!(l.sum(Metric::Cost, &[]), "0.1".parse::<Decimal>().unwrap());
    let c = l.changes();
    assert_eq!((c.created.len(), c.values.len()), (1, 1));
    l.keep();
    l.begin();
    assert!(l.changes().values.is_empty());
}

#[test]
fn past_the_series_cap_the_model_folds_first_then_feature_then_user() {
    // 8 series: 4 of full detail, 2 with the model folded, 1 with the feature too, then all
    let mut l = ledger(8, 100);
    for u in ["a", "b", "c", "d"] {
        call(&mut l, u, "chat", "m1", 0);
    }
    // full detail is full: the model folds, alice and her feature stay
    call(&mut l, "alice", "chat", "m2", 1);
    let usd = |n: i128| Ledger::decimal(Metric::Cost, n);
    assert_eq!(
        l.sum(
            Metric::Cost,
            &[("user", "alice"), ("feature", "chat"), ("model", OTHER)]
        ),
        usd(1)
    );
    // a later call of alice with another model lands in the same folded series
    call(&mut l, "alice", "chat", "m3", 1);
    assert_eq!(
        l.sum(Metric::Cost, &[("user", "alice"), ("model", OTHER)]),
        usd(2)
    );
    call(&mut l, "bob", "chat", "m2", 0);
    // that level is full too: the feature folds as well
    call(&mut l, "carol", "search", "m1", 5);
    assert_eq!(
        l.sum(
            Metric::Cost,
            &[("user", "carol"), ("feature", OTHER), ("model", OTHER)]
        ),
        usd(5)
    );
    // and past the cap everything new folds down to __other__
    call(&mut l, "dave", "search", "m1", 7);
    assert_eq!(
        l.sum(
            Metric::Cost,
            &[("user", OTHER), ("feature", OTHER), ("model", OTHER)]
        ),
        usd(7)
    );
    assert_eq!(l.series_count(Metric::Cost), 8);
    // per-dimension totals are exact all along
    assert_eq!(
        l.sum(Metric::UserCost, &[("user", "alice")]),
        Ledger::decimal(Metric::UserCost, 2)
    );
    assert_eq!(l.sum(Metric::UserCost, &[("user", "carol")]), usd(5));
    assert_eq!(l.sum(Metric::UserCost, &[("user", "dave")]), usd(7));
    assert_eq!(l.sum(Metric::FeatureCost, &[("feature", "chat")]), usd(2));
    assert_eq!(
        l.sum(Metric::Folded, &[("metric", "bedrock_cost_usd_total")]),
        Decimal::from(5)
    );
    assert_eq!(
        l.sum(Metric::FoldedCost, &[("metric", "bedrock_cost_usd_total")]),
        usd(14)
    );
}

#[test]
fn past_a_dimension_cap_new_values_fold_and_admitted_ones_stay_exact() {
    let mut l = ledger(1000, 2);
    call(&mut l, "a", "f", "m", 1);
    call(&mut l, "b", "f", "m", 2);
    call(&mut l, "c", "f", "m", 4);
    call(&mut l, "a", "f", "m", 8);
    assert_eq!(
        l.sum(Metric::UserCost, &[("user", "a")]),
        Ledger::decimal(Metric::UserCost, 9)
    );
    assert_eq!(
        l.sum(Metric::UserCost, &[("user", OTHER)]),
        Ledger::decimal(Metric::UserCost, 4)
    );
    assert_eq!(l.dims()[0].admitted(), 2);
    assert_eq!(
        l.sum(
            Metric::FoldedCost,
            &[("metric", "bedrock_user_cost_usd_total")]
        ),
        Ledger::decimal(Metric::FoldedCost, 4)
    );
}

#[test]
fn unbounded_models_fold_in_the_unpriced_metric_and_bounded_metrics_never_fold() {
    let mut l = ledger(1, 10);
    l.add_named(
        Metric::Unpriced,
        &[("model", "x1"), ("reason", "unknown_model")],
        1,
    );
    l.add_named(
        Metric::Unpriced,
        &[("model", "x2"), ("reason", "unknown_model")],
        1,
    );
    assert_eq!(l.sum(Metric::Unpriced, &[("model", OTHER)]), Decimal::ONE);
    for r in ["us-east-1", "eu-west-1", "ap-south-1"] {
        l.add_named(Metric::ModelCost, &[("model", "m"), ("region", r)], 1);
    }
    assert_eq!(l.series_count(Metric::ModelCost), 3);
}

#[test]
fn a_rolled_back_batch_leaves_no_trace() {
    let mut l = ledger(10, 1);
    l.begin();
    call(&mut l, "a", "f", "m", 5);
    l.keep();
    let before: Vec<(u32, Key, i128)> = l.iter().map(|(i, k, v)| (i, *k, v)).collect();
    l.begin();
    call(&mut l, "a", "f", "m", 5);
    call(&mut l, "b", "g", "m", 5);
    l.rollback();
    let after: Vec<(u32, Key, i128)> = l.iter().map(|(i, k, v)| (i, *k, v)).collect();
    assert_eq!(before, after);
    assert_eq!(l.dims()[1].admitted(), 1, "g was not admitted for good");
    // the same batch again lands exactly as if the failure never happened
    l.begin();
    call(&mut l, "b", "g", "m", 5);
    l.keep();
    assert_eq!(
        l.sum(Metric::FeatureCost, &[("feature", "g")]),
        Decimal::ZERO
    );
    assert_eq!(
        l.sum(Metric::FeatureCost, &[("feature", OTHER)]),
        Ledger::decimal(Metric::FeatureCost, 5)
    );
}

#[test]
fn removed_series_are_gone_and_come_back_on_rollback() {
    let mut l = ledger(10, 10);
    l.begin();
    l.add_named(
        Metric::PeriodSpend,
        &[("subject", "a"), ("start", "2026-10")],
        3,
    );
    l.keep();
    let (id, _, _) = l.iter().next().unwrap();
    l.begin();
    l.remove(id);
    assert_eq!(l.len(), 0);
    assert_eq!(l.changes().removed, vec![id]);
    l.rollback();
    assert_eq!(l.len(), 1);
    l.begin();
    l.add_named(
        Metric::PeriodSpend,
        &[("subject", "a"), ("start", "2026-10")],
        3,
    );
    assert_eq!(l.len(), 1, "the restored series is found again");
}

#[test]
fn a_batch_opened_on_top_of_another_reports_its_own_changes() {
    let mut l = ledger(10, 10);
    l.begin();
    call(&mut l, "a", "f", "m", 5);
    l.keep();
    l.begin();
    call(&mut l, "a", "f", "m", 1);
    call(&mut l, "b", "f", "m", 2);
    let outer = l.changes();
    l.begin_next();
    assert!(l.changes().values.is_empty(), "nothing of the outer batch");
    call(&mut l, "b", "f", "m", 3);
    call(&mut l, "c", "f", "m", 4);
    let inner = l.changes();
    // The outer batch's new series are not new to the inner one; its values are the latest.
    let b = l.sym("b").unwrap();
    let created_by = |c: &Changes| -> Vec<bool> {
        c.created
            .iter()
            .map(|&id| l.key(id).vals.contains(&b))
            .collect()
    };
    assert!(created_by(&outer).iter().any(|&x| x));
    assert!(!created_by(&inner).iter().any(|&x| x), "b's series exist");
    assert_eq!(
        inner.created.len(),
        2,
        "c's cross and user series; f's exists"
    );
    l.keep_outer();
    assert_eq!(
        l.changes().values,
        inner.values,
        "the inner batch is now the open one"
    );
    l.keep();
    assert_eq!(l.sum(Metric::Cost, &[]), Ledger::decimal(Metric::Cost, 15));
    // Both open, the outer commit fails: both are undone, exactly.
    l.begin();
    call(&mut l, "d", "g", "m", 1);
    l.begin_next();
    call(&mut l, "a", "g", "m", 1);
    l.rollback();
    assert_eq!(l.sum(Metric::Cost, &[]), Ledger::decimal(Metric::Cost, 15));
    assert_eq!(l.dims()[1].admitted(), 1, "g was admitted by neither");
    assert!(l.sym("d").is_some() && l.sum(Metric::UserCost, &[("user", "d")]).is_zero());
}

#[test]
fn an_inner_batch_rolls_back_alone_once_the_outer_is_kept() {
    let mut l = ledger(10, 10);
    l.begin();
    call(&mut l, "a", "f", "m", 5);
    l.begin_next();
    call(&mut l, "a", "f", "m", 7);
    call(&mut l, "b", "f", "m", 7);
    l.keep_outer();
    l.rollback();
    assert_eq!(l.sum(Metric::Cost, &[]), Ledger::decimal(Metric::Cost, 5));
    assert_eq!(l.len(), 3, "a's three series, b's gone");
    // A removal in the inner batch of a series the outer one created is the inner's.
    l.begin();
    l.add_named(
        Metric::PeriodSpend,
        &[("subject", "s"), ("start", "2026-10")],
        3,
    );
    let id = l.changes().created[0];
    l.begin_next();
    l.remove(id);
    assert_eq!(l.changes().removed, vec![id]);
    l.rollback();
    assert_eq!(l.len(), 3);
}

/// Every series as (metric, label pairs) -> value.
pub(crate) fn by_labels(l: &Ledger) -> HashMap<(Metric, Vec<(String, String)>), i128> {
    l.iter()
        .map(|(_, k, v)| {
            let labels = l
                .labels(k)
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
            ((k.metric, labels), v)
        })
        .collect()
}

/// Copies the ledger through its stored form, as a restart does.
fn restart(l: &Ledger, series: usize, dim_cap: usize) -> Ledger {
    let mut n = ledger(series, dim_cap);
    for (id, key, value) in l.iter() {
        let labels: Vec<(&str, &str)> = l.labels(key).collect();
        n.restore(id, key.metric, &labels, value);
    }
    n.finish_restore();
    n
}

/// Property: for any arrival order and caps, the sum over each dimension equals the total,
/// every admitted value's total is exact, and no counter goes down across a restart.
#[test]
fn folding_properties_hold_for_random_orders_and_caps() {
    for seed in 0..300u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let series_cap = rng.usize(1..40);
        let dim_cap = rng.usize(1..12);
        let users = rng.usize(1..30);
        let features = rng.usize(1..10);
        let models = rng.usize(1..6);
        let mut l = ledger(series_cap, dim_cap);
        let mut total: i128 = 0;
        let mut by_user: HashMap<String, i128> = HashMap::new();
        let mut by_feature: HashMap<String, i128> = HashMap::new();
        let restart_at = rng.usize(0..200);
        let mut before = HashMap::new();
        for n in 0..200 {
            if n == restart_at {
                before = by_labels(&l);
                l = restart(&l, series_cap, dim_cap);
                assert_eq!(by_labels(&l), before, "every series survives a restart");
            }
            let u = format!("u{}", rng.usize(0..users));
            let f = format!("f{}", rng.usize(0..features));
            let m = format!("m{}", rng.usize(0..models));
            let amount = rng.i128(0..1_000_000_000_000);
            total += amount;
            *by_user.entry(u.clone()).or_default() += amount;
            *by_feature.entry(f.clone()).or_default() += amount;
            l.begin();
            call(&mut l, &u, &f, &m, amount);
            if rng.usize(0..10) == 0 {
                l.rollback();
                total -= amount;
                *by_user.get_mut(&u).unwrap() -= amount;
                *by_feature.get_mut(&f).unwrap() -= amount;
            } else {
                l.keep();
            }
        }
        let t = Ledger::decimal(Metric::Cost, total);
        for m in [Metric::Cost, Metric::UserCost, Metric::FeatureCost] {
            assert_eq!(l.sum(m, &[]), t, "seed {seed}: {m:?}");
        }
        for (dim, label, want) in [(0, "user", &by_user), (1, "feature", &by_feature)] {
            let metric = if dim == 0 {
                Metric::UserCost
            } else {
                Metric::FeatureCost
            };
            let mut admitted = 0;
            let mut folded: i128 = 0;
            for (v, w) in want.iter() {
                let got = l.sum(metric, &[(label, v)]);
                if l.sym(v).is_some_and(|s| l.dims[dim].admitted.contains(&s)) {
                    admitted += 1;
                    assert_eq!(got, Ledger::decimal(metric, *w), "seed {seed}: {label} {v}");
                } else {
                    folded += w;
                }
            }
            assert!(admitted <= dim_cap);
            assert_eq!(
                l.sum(metric, &[(label, OTHER)]),
                Ledger::decimal(metric, folded),
                "seed {seed}"
            );
        }
        assert!(
            l.series_count(Metric::Cost) <= series_cap + 1,
            "seed {seed}"
        );
        let after = by_labels(&l);
        for (k, v) in &before {
            assert!(
                after.get(k).expect("series are never dropped") >= v,
                "seed {seed}: a counter went down"
            );
        }
    }
}

#[test]
fn adopt_creates_past_the_caps_admits_the_value_and_is_no_batch_change() {
    // one user admitted at most: a second one, adopted from another replica, still gets its
    // own series and is admitted
    let mut l = ledger(100, 1);
    l.begin();
    call(&mut l, "a", "chat", "m", 5);
    l.keep();
    let id = l.adopt(Metric::UserCost, &[("user", "b")], 7);
    assert_eq!(
        l.sum(Metric::UserCost, &[("user", "b")]),
        Ledger::decimal(Metric::UserCost, 7)
    );
    assert_eq!(l.dims()[0].admitted(), 2, "b counts against the cap now");
    let b = l.intern("b");
    assert_eq!(l.admit(0, b), (b, false), "and is no longer folded");
    // the same series again: found, and its value set (not added)
    assert_eq!(l.adopt(Metric::UserCost, &[("user", "b")], 9), id);
    assert_eq!(
        l.sum(Metric::UserCost, &[("user", "b")]),
        Ledger::decimal(Metric::UserCost, 9)
    );
    // the next batch neither writes it as created nor changes it
    l.begin();
    let c = l.changes();
    assert!(c.created.is_empty() && c.values.is_empty(), "{c:?}");
    call(&mut l, "b", "chat", "m", 1);
    let c = l.changes();
    assert!(!c.created.contains(&id));
    assert!(c.values.contains(&(id, 10)), "{c:?}");
    // a rolled back batch does not undo the adopted value
    l.rollback();
    assert_eq!(
        l.sum(Metric::UserCost, &[("user", "b")]),
        Ledger::decimal(Metric::UserCost, 9)
    );
}

#[test]
fn a_key_that_folded_counts_in_its_own_series_once_it_is_adopted() {
    // full detail holds 2 series of 4: the third user's call folds its model
    let mut l = ledger(4, 100);
    l.begin();
    call(&mut l, "a", "chat", "m", 1);
    call(&mut l, "b", "chat", "m", 1);
    call(&mut l, "c", "chat", "m", 1);
    l.keep();
    let own = [("user", "c"), ("feature", "chat"), ("model", "m")];
    assert_eq!(l.sum(Metric::Cost, &own), Decimal::ZERO);
    let epoch = l.epoch();
    let id = l.adopt(Metric::Cost, &own, 3);
    assert_ne!(l.epoch(), epoch, "cached ids are resolved again");
    l.begin();
    call(&mut l, "c", "chat", "m", 1);
    l.keep();
    assert_eq!(l.slots[id as usize].value, 4);
}

#[test]
#[should_panic(expected = "between batches")]
fn adopt_inside_a_batch_is_refused() {
    let mut l = ledger(10, 10);
    l.begin();
    l.adopt(Metric::UserCost, &[("user", "b")], 7);
}
