use super::*;
use std::str::FromStr;

pub const CARD: &str = r#"
version = "test-2026-11"
effective_from = 2026-11-01
review_by = 2027-02-01
currency = "USD"
unit = "per_1m_tokens"
source = "unit test"

[[models]]
id = "anthropic.claude-sonnet-4-5-20250929-v1:0"
name = "Claude Sonnet 4.5"

[[models]]
id = "amazon.nova-micro-v1:0"
name = "Nova Micro"

[[prices]]
model = "anthropic.claude-sonnet-4-5-20250929-v1:0"
regions = ["*"]
scopes = ["global"]
input = "3.00"
output = "15.00"
cache_read = "0.30"
cache_write_5m = "3.75"
cache_write_1h = "6.00"
long_context = { above_tokens = 200000, input = "6.00", output = "22.50", cache_read = "0.60", cache_write_5m = "7.50", cache_write_1h = "12.00" }

[[prices]]
model = "anthropic.claude-sonnet-4-5-20250929-v1:0"
regions = ["*"]
scopes = ["in_region", "geo"]
input = "3.30"
output = "16.50"
cache_read = "0.33"
cache_write_5m = "4.125"
cache_write_1h = "6.60"

[[prices]]
model = "amazon.nova-micro-v1:0"
regions = ["*"]
scopes = ["in_region", "geo"]
input = "0.035"
output = "0.14"
cache_read = "0.00875"

[[prices]]
model = "amazon.nova-micro-v1:0"
regions = ["ap-northeast-1", "ap-south-1"]
scopes = ["in_region", "geo"]
input = "0.041"
output = "0.164"

[[prices]]
model = "amazon.nova-micro-v1:0"
regions = ["*"]
scopes = ["in_region"]
tier = "priority"
input = "0.06125"
output = "0.245"
"#;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

#[test]
fn a_valid_card_parses() {
    let c = parse(CARD, "card.toml").unwrap();
    assert_eq!(c.version, "test-2026-11");
    assert_eq!(c.effective_from, 1_793_491_200); // 2026-11-01T00:00:00Z
    assert_eq!(c.models.len(), 2);
    assert_eq!(c.sha256.len(), 64);
}

#[test]
fn a_region_row_beats_the_star_row() {
    let c = parse(CARD, "card.toml").unwrap();
    let m = "amazon.nova-micro-v1:0";
    let tokyo = c
        .lookup(m, "ap-northeast-1", Scope::Geo, Tier::Standard)
        .unwrap();
    assert_eq!(tokyo.prices.get(TokenClass::Input), Some(d("0.041")));
    let virginia = c
        .lookup(m, "us-east-1", Scope::Geo, Tier::Standard)
        .unwrap();
    assert_eq!(virginia.prices.get(TokenClass::Input), Some(d("0.035")));
}

#[test]
fn lookup_misses_say_what_is_missing() {
    let c = parse(CARD, "card.toml").unwrap();
    assert_eq!(
        c.lookup("nope", "us-east-1", Scope::Geo, Tier::Standard)
            .unwrap_err(),
        LookupMiss::UnknownModel
    );
    assert_eq!(
        c.lookup(
            "amazon.nova-micro-v1:0",
            "us-east-1",
            Scope::Geo,
            Tier::Flex
        )
        .unwrap_err(),
        LookupMiss::NoTier
    );
    assert_eq!(
        c.lookup(
            "amazon.nova-micro-v1:0",
            "us-east-1",
            Scope::Global,
            Tier::Standard
        )
        .unwrap_err(),
        LookupMiss::NoScope
    );
}

#[test]
fn every_problem_is_reported_at_once_with_its_location() {
    let bad = r#"
version = "bad"
effective_from = "Nov 1st"
currency = "EUR"
unit = "per_1k_tokens"
source = "x"
colour = "blue"
[[models]]
id = "m1"
name = "M1"
[[prices]]
model = "m1"
regions = ["*"]
scopes = ["local"]
input = 3.0
output = "1e3"
[[prices]]
model = "m2"
regions = ["us-east-1"]
scopes = ["geo"]
input = "1"
[[prices]]
model = "m1"
regions = ["*", "Mars-1"]
scopes = ["geo"]
output = "2"
long_context = { above_tokens = 0, input = "1" }
"#;
    let errs = parse(bad, "bad.toml").unwrap_err().0;
    let all = errs.join("\n");
    for want in [
        "bad.toml: top level: `effective_from` must be a date",
        "`currency` = \"EUR\"",
        "`unit` = \"per_1k_tokens\"",
        "unknown key `colour`",
        "prices[0] (m1): scope \"local\" is not one of",
        "prices[0] (m1): `input` must be a decimal string",
        "prices[0] (m1): `output`: \"1e3\" is not a plain decimal",
        "prices[1] (m2): model \"m2\" is not declared",
        "prices[2] (m1): `regions` is either",
        "\"Mars-1\" is not an AWS region name",
        "prices[2] (m1).long_context: `above_tokens` must be a positive integer",
        "prices `output` in the base row but not in the long-context band",
    ] {
        assert!(all.contains(want), "missing {want:?} in:\n{all}");
    }
}

#[test]
fn overlapping_rows_are_rejected() {
    let dup = CARD.to_string()
        + r#"
[[prices]]
model = "amazon.nova-micro-v1:0"
regions = ["ap-south-1"]
scopes = ["geo"]
input = "1"
"#;
    let errs = parse(&dup, "dup.toml").unwrap_err().0;
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].contains("prices[3] already prices region ap-south-1 scope geo tier standard"),
        "{errs:?}"
    );
}

#[test]
fn discounts_apply_card_wide_and_per_model() {
    let text = CARD.replace("source = \"unit test\"", "source = \"unit test\"\ndiscount_percent = \"10\"\n[model_discounts]\n\"amazon.nova-micro-v1:0\" = \"50\"");
    let c = parse(&text, "card.toml").unwrap();
    let sonnet = c
        .lookup(
            "anthropic.claude-sonnet-4-5-20250929-v1:0",
            "us-east-1",
            Scope::Global,
            Tier::Standard,
        )
        .unwrap();
    assert_eq!(sonnet.prices.get(TokenClass::Input), Some(d("2.7")));
    assert_eq!(
        sonnet
            .long_context
            .as_ref()
            .unwrap()
            .prices
            .get(TokenClass::Output),
        Some(d("20.25"))
    );
    let micro = c
        .lookup(
            "amazon.nova-micro-v1:0",
            "us-east-1",
            Scope::Geo,
            Tier::Standard,
        )
        .unwrap();
    assert_eq!(micro.prices.get(TokenClass::Input), Some(d("0.0175")));
}

/// Found while writing the ratecard_parse fuzz target: see `Reader::discounted_prices_fit`.
#[test]
fn discounted_prices_must_fit_the_ledger() {
    let card = |price: &str, discount: &str| {
        CARD.replace("input = \"0.035\"", &format!("input = \"{price}\""))
            .replace(
                "source = \"unit test\"",
                &format!("source = \"unit test\"\ndiscount_percent = \"{discount}\""),
            )
    };
    let errs = parse(&card("0.0000000001", "12.5"), "c.toml")
        .unwrap_err()
        .0;
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].contains("`input` is 0.0000000000875 after the 12.5% discount"),
        "{errs:?}"
    );
    // Within the ledger's decimals: still accepted, and priced exactly.
    let c = parse(&card("0.0000001", "12.5"), "c.toml").unwrap();
    let row = c.lookup(
        "amazon.nova-micro-v1:0",
        "us-east-1",
        Scope::InRegion,
        Tier::Standard,
    );
    assert_eq!(
        row.unwrap().prices.get(TokenClass::Input),
        Some(d("0.0000000875"))
    );
}

#[test]
fn cards_with_the_same_start_or_version_conflict() {
    let a = parse(CARD, "a.toml").unwrap();
    let b = parse(CARD, "b.toml").unwrap();
    let errs = RateCards::new(vec![a, b]).unwrap_err().0;
    assert_eq!(errs.len(), 2, "{errs:?}");
}

#[test]
fn the_card_in_force_is_the_latest_started() {
    let old = parse(
        &CARD
            .replace("test-2026-11", "old")
            .replace("2026-11-01", "2026-01-01"),
        "old.toml",
    )
    .unwrap();
    let new = parse(CARD, "new.toml").unwrap();
    let cards = RateCards::new(vec![new, old]).unwrap();
    let nov_1 = 1_793_491_200;
    assert_eq!(cards.card_for(nov_1 - 1).unwrap().version, "old");
    assert_eq!(cards.card_for(nov_1).unwrap().version, "test-2026-11");
    assert!(cards.card_for(0).is_none());
}

#[test]
fn the_bundled_cards_are_valid_and_each_prices_its_own_period() {
    let cards: Vec<RateCard> = BUNDLED
        .iter()
        .map(|(path, text)| parse(text, path).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    for c in &cards {
        assert!(c.models.len() > 30, "{}: {}", c.path, c.models.len());
    }
    let set = RateCards::new(cards).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        set.cards().last().unwrap().path,
        bundled_newest().0,
        "BUNDLED lists the cards oldest first"
    );
    let day = |d: &str| timefmt::parse_date(d).unwrap() * 86_400;
    // before 2026-11-30 the 2026-11-22 card prices, from then on the 2026-11-30 one
    assert_eq!(
        set.card_for(day("2026-11-29")).unwrap().version,
        "2026-11-22"
    );
    assert_eq!(
        set.card_for(day("2026-11-30")).unwrap().version,
        "2026-11-30"
    );
    assert_eq!(
        set.card_for(day("2023-09-28")).unwrap().version,
        "2026-11-22"
    );
}

#[test]
fn load_reports_missing_paths_and_empty_directories() {
    let dir = tempfile::tempdir().unwrap();
    let errs = load(&[dir.path().join("nope.toml"), dir.path().to_path_buf()])
        .unwrap_err()
        .0;
    assert_eq!(errs.len(), 2, "{errs:?}");
    std::fs::write(dir.path().join("a.toml"), CARD).unwrap();
    assert_eq!(load(&[dir.path().to_path_buf()]).unwrap().cards().len(), 1);
}

const PROVENANCE_ROW: &str = r#"
[[prices]]
model = "amazon.nova-micro-v1:0"
regions = ["ap-northeast-2"]
scopes = ["in_region", "geo"]
input = "0.96"
output = "3.84"
long_context = { above_tokens = 300000, input = "1.92", output = "7.68", price_list = [{ class = "input", usagetype = "APN2-NovaMicro-input-tokens-long", sku = "L1", offer = "AmazonBedrock", version = "20260901205051", published = "2026-09-01T20:50:51Z" }] }
price_list = [
  { class = "input", usagetype = "APN2-NovaMicro-input-tokens", sku = "SKU1", offer = "AmazonBedrock", version = "20260901205051", published = "2026-09-01T20:50:51Z", unit = "1K tokens", unit_price = "0.0009600000" },
  { class = "output", usagetype = "APN2-NovaMicro-output-tokens", sku = "SKU2", offer = "AmazonBedrock", version = "20260901205051", published = "2026-09-01T20:50:51Z" },
]
"#;

#[test]
fn a_row_may_say_where_each_price_comes_from_in_the_price_list() {
    let text = format!("{CARD}{PROVENANCE_ROW}").replace(
        "source = \"unit test\"",
        "source = \"unit test\"\ndiscount_percent = \"50\"",
    );
    let c = parse(&text, "card.toml").unwrap();
    let row = c
        .lookup(
            "amazon.nova-micro-v1:0",
            "ap-northeast-2",
            Scope::InRegion,
            Tier::Standard,
        )
        .unwrap();
    assert_eq!(row.provenance.len(), 2);
    let p = &row.provenance[0];
    assert_eq!(
        (
            p.class,
            p.usagetype.as_str(),
            p.sku.as_str(),
            p.offer.as_str(),
            p.version.as_str(),
            p.published.as_str()
        ),
        (
            TokenClass::Input,
            "APN2-NovaMicro-input-tokens",
            "SKU1",
            "AmazonBedrock",
            "20260901205051",
            "2026-09-01T20:50:51Z"
        )
    );
    assert_eq!(
        (p.unit.as_deref(), p.unit_price.as_deref()),
        (Some("1K tokens"), Some("0.0009600000"))
    );
    assert_eq!(row.provenance[1].unit, None);
    // the list price stays beside the discounted one
    assert_eq!(row.prices.get(TokenClass::Input), Some(d("0.48")));
    assert_eq!(row.list_prices.get(TokenClass::Input), Some(d("0.96")));
    let lc = row.long_context.as_ref().unwrap();
    assert_eq!(lc.provenance[0].sku, "L1");
    assert_eq!(lc.list_prices.get(TokenClass::Output), Some(d("7.68")));
    // hand-written rows need none
    let star = c
        .lookup(
            "amazon.nova-micro-v1:0",
            "us-east-1",
            Scope::InRegion,
            Tier::Standard,
        )
        .unwrap();
    assert!(star.provenance.is_empty());
}

#[test]
fn provenance_entries_are_validated_all_at_once() {
    let bad = PROVENANCE_ROW
        .replace("class = \"output\"", "class = \"cache_read\"")
        .replace("sku = \"SKU1\", ", "")
        .replace(
            "unit = \"1K tokens\"",
            "unit = \"1K tokens\", colour = \"red\"",
        )
        .replace(
            "class = \"input\", usagetype = \"APN2-NovaMicro-input-tokens-long\"",
            "class = \"inptu\", usagetype = \"APN2-NovaMicro-input-tokens-long\"",
        );
    let errs = parse(&format!("{CARD}{bad}"), "p.toml").unwrap_err().0;
    let all = errs.join("\n");
    assert_eq!(errs.len(), 4, "{all}");
    assert!(all.contains("price_list[0]: `sku` is missing"), "{all}");
    assert!(all.contains("price_list[0]: unknown key `colour`"), "{all}");
    assert!(
        all.contains("price_list[1]: names class `cache_read`, which this row does not price"),
        "{all}"
    );
    assert!(
        all.contains("long_context.price_list[0]: class \"inptu\" is not one of input, output"),
        "{all}"
    );

    let twice = PROVENANCE_ROW.replace("class = \"output\"", "class = \"input\"");
    let errs = parse(&format!("{CARD}{twice}"), "p.toml").unwrap_err().0;
    assert!(
        errs[0].contains("class `input` is listed twice"),
        "{errs:?}"
    );
}

const ASSUMPTIONS: &str = r#"
[[assumptions]]
id = "in-region-premium-10pct"
text = "in-Region calls cost the regional rate"
source = "https://example.com/pricing"

[[assumptions]]
id = "batch-derived-0.5x"
text = "batch = standard x 0.5"
source = "https://example.com/batch"
"#;

#[test]
fn rows_name_the_assumptions_their_prices_rest_on() {
    let text = format!("{CARD}{ASSUMPTIONS}").replacen(
        "scopes = [\"in_region\", \"geo\"]\ninput = \"3.30\"",
        "scopes = [\"in_region\", \"geo\"]\nassumptions = [\"in-region-premium-10pct\"]\ninput = \"3.30\"",
        1,
    );
    let c = parse(&text, "card.toml").unwrap();
    let ids: Vec<&str> = c.assumptions.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["in-region-premium-10pct", "batch-derived-0.5x"]);
    assert_eq!(c.assumptions[0].source, "https://example.com/pricing");
    let model = "anthropic.claude-sonnet-4-5-20250929-v1:0";
    let tagged = c
        .lookup(model, "us-east-1", Scope::InRegion, Tier::Standard)
        .unwrap();
    assert_eq!(tagged.assumptions, ["in-region-premium-10pct"]);
    let global = c
        .lookup(model, "us-east-1", Scope::Global, Tier::Standard)
        .unwrap();
    assert!(global.assumptions.is_empty());
    // a tag is content: the card's digest changes with it
    let untagged = parse(&format!("{CARD}{ASSUMPTIONS}"), "card.toml").unwrap();
    assert_ne!(c.content, untagged.content);
}

#[test]
fn assumption_problems_are_listed_with_all_the_others() {
    let text = format!("{CARD}{ASSUMPTIONS}")
        .replacen(
            "scopes = [\"global\"]\n",
            "scopes = [\"global\"]\nassumptions = [\"in-region-premium\", \"batch-derived-0.5x\", \"batch-derived-0.5x\"]\n",
            1,
        )
        .replacen(
            "scopes = [\"in_region\"]\n",
            "scopes = [\"in_region\"]\nassumptions = []\n",
            1,
        )
        .replace(
            "id = \"batch-derived-0.5x\"\ntext = \"batch = standard x 0.5\"\n",
            "id = \"Batch derived\"\ntext = \" \"\ncolour = \"red\"\n",
        )
        .replace("input = \"0.041\"", "input = 0.041");
    let all = parse(&text, "a.toml").unwrap_err().0.join("\n");
    for want in [
        "prices[0] (anthropic.claude-sonnet-4-5-20250929-v1:0): assumption \"in-region-premium\" is not defined in [[assumptions]] (defined: in-region-premium-10pct, Batch derived)",
        "prices[0] (anthropic.claude-sonnet-4-5-20250929-v1:0): assumption \"batch-derived-0.5x\" is not defined",
        "prices[4] (amazon.nova-micro-v1:0): `assumptions` must be a non-empty list",
        "assumptions[1]: unknown key `colour`",
        "assumptions[1]: `text` is empty",
        "assumptions[1]: id \"Batch derived\" must be lowercase letters",
        // an unrelated problem is still reported in the same list
        "prices[3] (amazon.nova-micro-v1:0): `input` must be a decimal string",
    ] {
        assert!(all.contains(want), "missing {want:?} in:\n{all}");
    }

    let twice = format!("{CARD}{ASSUMPTIONS}{ASSUMPTIONS}").replacen(
        "scopes = [\"global\"]\n",
        "scopes = [\"global\"]\nassumptions = [\"batch-derived-0.5x\", \"batch-derived-0.5x\"]\n",
        1,
    );
    let all = parse(&twice, "b.toml").unwrap_err().0.join("\n");
    assert!(
        all.contains("assumptions[2]: assumption \"in-region-premium-10pct\" is defined twice"),
        "{all}"
    );
    assert!(
        all.contains("assumption \"batch-derived-0.5x\" is listed twice"),
        "{all}"
    );
    // a card without [[assumptions]] names none
    let none = CARD.replacen(
        "scopes = [\"global\"]\n",
        "scopes = [\"global\"]\nassumptions = [\"x\"]\n",
        1,
    );
    let all = parse(&none, "c.toml").unwrap_err().0.join("\n");
    assert!(all.contains("(the card defines none)"), "{all}");
}

/// The newest bundled card's `[[prices]]` as TOML tables (the parsed card drops the notes).
fn bundled_rows() -> Vec<Table> {
    let table: Table = bundled_newest().1.parse().unwrap();
    table["prices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_table().unwrap().clone())
        .collect()
}

fn strs(t: &Table, key: &str) -> Vec<String> {
    t.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

/// Claude models before the 4.5 generation keep one price for every scope (S6). Every other
/// Claude id, including one added later, is 4.5 or later.
fn claude_4_5_or_later(model: &str) -> bool {
    const OLDER: &[&str] = &[
        "anthropic.claude-v1",
        "anthropic.claude-instant-v1",
        "anthropic.claude-v2",
        "anthropic.claude-3-",
        "anthropic.claude-sonnet-4-2025",
        "anthropic.claude-opus-4-2025",
        "anthropic.claude-opus-4-1-",
    ];
    model.starts_with("anthropic.claude") && !OLDER.iter().any(|p| model.starts_with(p))
}

/// Issue 11: the in-Region +10% of Claude 4.5 and later was untagged on most of the rows it
/// priced. Every row that prices an in-Region call of such a model at the regional rate must
/// say so. GovCloud rows are the one exception: LiteLLM states their in-Region price directly
/// (`bedrock/<region>/` keys), so no premium is assumed there.
#[test]
fn every_claude_4_5_and_later_in_region_row_names_the_regional_premium() {
    const TAG: &str = "in-region-premium-10pct";
    let mut tagged = 0;
    for (i, row) in bundled_rows().iter().enumerate() {
        let model = row["model"].as_str().unwrap();
        let tags = strs(row, "assumptions");
        let note = row.get("note").and_then(Value::as_str).unwrap_or("");
        let in_region = strs(row, "scopes").iter().any(|s| s == "in_region");
        if !claude_4_5_or_later(model) || !in_region {
            assert!(
                !tags.iter().any(|t| t == TAG),
                "prices[{i}] ({model}) is tagged {TAG} but is not an in-Region row of Claude 4.5 or later"
            );
            continue;
        }
        let govcloud = strs(row, "regions")
            .iter()
            .all(|r| r.starts_with("us-gov-"));
        if govcloud {
            assert!(
                note.contains("bedrock/<region>/") || note.contains("bedrock_mantle/<region>/"),
                "prices[{i}] ({model}): a GovCloud in-Region row without {TAG} must come from a LiteLLM region key: {note}"
            );
            continue;
        }
        assert!(
            tags.iter().any(|t| t == TAG),
            "prices[{i}] ({model}, regions {:?}) prices in-Region calls of Claude 4.5 or later without naming {TAG}",
            strs(row, "regions")
        );
        tagged += 1;
    }
    assert!(
        tagged >= 22,
        "only {tagged} rows checked: did the test lose its rows?"
    );
}

/// Issue 11: notes cited a research file that is not in the repository. Every source the
/// newest bundled card names must be reachable by a user: a public address, a file in this
/// repository, or a source id listed with its address in ratecards/README.md.
#[test]
fn the_bundled_card_cites_only_sources_a_user_can_reach() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let (path, text) = bundled_newest();
    let url = regex::Regex::new(r#"https?://[^\s)\]"',]+"#).unwrap();
    // anywhere in the file outside public addresses, comments included
    let outside_urls = url.replace_all(text, "").to_lowercase();
    for bad in [
        "price-check",
        "price-list.md",
        "formats.md",
        "design.md",
        "shared/",
        "/work/",
        "../",
        "file://",
    ] {
        assert!(
            !outside_urls.contains(bad),
            "{path} mentions {bad:?}, which is not in the repository"
        );
    }
    // every text a reviewer reads: source, assumptions, model and row notes
    let table: Table = text.parse().unwrap();
    let mut texts = vec![table["source"].as_str().unwrap().to_string()];
    for a in table["assumptions"].as_array().unwrap() {
        let a = a.as_table().unwrap();
        texts.push(a["text"].as_str().unwrap().to_string());
        texts.push(a["source"].as_str().unwrap().to_string());
    }
    for key in ["models", "prices"] {
        for t in table[key].as_array().unwrap() {
            if let Some(n) = t.get("note").and_then(Value::as_str) {
                texts.push(n.to_string());
            }
        }
    }
    // a file name must be in the repository unless it is part of a public address
    let file =
        regex::Regex::new(r"[\w./<>*-]+\.(md|json|jsonl|toml|csv|py|js|ts|yml|yaml|go|rs)\b")
            .unwrap();
    // the member of the PyPI wheel that `source` cites by its address and sha256
    let elsewhere = ["model_prices_and_context_window_backup.json"];
    let readme = std::fs::read_to_string(root.join("ratecards/README.md")).unwrap();
    let id = regex::Regex::new(r"\b[SP]\d{1,2}\b").unwrap();
    let mut ids = std::collections::BTreeSet::new();
    for t in &texts {
        let bare = url.replace_all(t, "");
        for m in file.find_iter(&bare) {
            let f = m.as_str();
            assert!(
                elsewhere.contains(&f) || root.join(f).exists(),
                "{path} cites {f:?}, which is neither a public address nor a repository file: {t}"
            );
        }
        ids.extend(id.find_iter(t).map(|m| m.as_str().to_string()));
    }
    assert!(ids.contains("S6") && ids.contains("P2"), "{ids:?}");
    for id in &ids {
        let listed = readme
            .lines()
            .any(|l| l.starts_with(&format!("| {id} |")) && l.contains("https://"));
        assert!(
            listed,
            "{path} cites {id}, which ratecards/README.md does not list with its address (section Sources)"
        );
    }
}

/// The `ratecard_parse` fuzzer's crash (FUZZING.md): a 22-digit price parsed, and a call priced
/// with it cost more than the ledger counts exactly. Prices are now capped.
#[test]
fn a_price_past_the_cap_is_a_card_error() {
    let huge = CARD.replace(
        "cache_write_5m = \"4.125\"",
        "cache_write_5m = \"4666666666666666666666.125\"",
    );
    let errs = parse(&huge, "huge.toml").unwrap_err().0;
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].contains(
            "`cache_write_5m` = 4666666666666666666666.125 is above 100000 USD per 1M tokens"
        ),
        "{errs:?}"
    );
    let at_cap = CARD.replace("cache_write_5m = \"4.125\"", "cache_write_5m = \"100000\"");
    assert!(parse(&at_cap, "cap.toml").is_ok());
}

#[test]
fn a_bundled_card_says_it_is_bundled_not_a_path_that_does_not_exist_here() {
    for c in bundled().cards() {
        assert!(c.bundled);
        assert_eq!(c.source(), "bundled");
        assert_eq!(c.sha256.len(), 64);
    }
    let file = parse(CARD, "/etc/cards/a.toml").unwrap();
    assert!(!file.bundled);
    assert_eq!(file.source(), "/etc/cards/a.toml");
}
