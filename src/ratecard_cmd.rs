//! The `ratecard` command: build a card from the AWS Price List (`import`), compare two cards
//! (`diff`), and compare a card with the Price List (`check`). Flags and I/O only; the work is
//! in [`crate::pricelist`].

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};

use crate::pricelist::{card, check, diff, fetch, import, mapping, offer, report};
use crate::pricing::ratecard::{self, RateCard};

#[derive(Subcommand)]
pub enum Action {
    /// Build a rate card from AWS Price List offer files (AmazonBedrock,
    /// AmazonBedrockFoundationModels, AmazonBedrockService; JSON or CSV).
    ///
    /// Every price keeps its usage type, SKU, offer code, file version and publication date.
    /// Products the mapping table does not map, unknown usage types, and prices whose unit is
    /// unclear are listed, never guessed.
    ///
    /// Example: bedrock-cost-exporter ratecard import --price-list AmazonBedrock.json
    /// AmazonBedrockFoundationModels.csv AmazonBedrockService.json --out ratecards/2027-01-01.toml
    Import(ImportArgs),
    /// Show every price that changed, appeared or disappeared between two cards, by model,
    /// region, scope, tier, token class and long-context band.
    Diff {
        /// The card in use.
        old: PathBuf,
        /// The proposed card.
        new: PathBuf,
        #[arg(long, value_parser = ["text", "json"], default_value = "text")]
        format: String,
    },
    /// List where a card disagrees with the Price List (exit status 1 if it does).
    Check {
        /// The card to check.
        card: PathBuf,
        #[command(flatten)]
        source: SourceArgs,
        #[arg(long, value_parser = ["text", "json"], default_value = "text")]
        format: String,
    },
}

/// Where the offer files come from.
#[derive(Args)]
pub struct SourceArgs {
    /// Offer files to read (JSON or CSV), as downloaded from the Price List bulk API.
    #[arg(long = "price-list", value_name = "FILE", num_args = 1..)]
    price_list: Vec<PathBuf>,
    /// Download the current offer files of the three Bedrock offer codes instead (public,
    /// no credentials; needs HTTPS access to the Price List).
    #[arg(long)]
    fetch: bool,
    /// With --fetch: only these regions' files (repeatable), instead of the all-regions files.
    #[arg(long = "region", requires = "fetch")]
    regions: Vec<String>,
    /// With --fetch: where the Price List bulk API is.
    #[arg(long, env = "BEDROCK_COST_PRICE_LIST_URL", default_value = fetch::DEFAULT_BASE_URL)]
    price_list_url: String,
    /// With --fetch: also keep the downloaded files in this directory, for the record.
    #[arg(long, requires = "fetch")]
    save_dir: Option<PathBuf>,
    /// Mapping table from Price List names to Bedrock model ids. Default: the bundled,
    /// reviewed ratecards/mapping/price-list-models.toml.
    #[arg(long)]
    mapping: Option<PathBuf>,
}

#[derive(Args)]
pub struct ImportArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Where to write the card.
    #[arg(long)]
    out: PathBuf,
    /// The card's version. Default: price-list-<newest publication date of the files read>.
    #[arg(long = "card-version")]
    card_version: Option<String>,
    /// First day (UTC, YYYY-MM-DD) the card applies. Default: the newest effectiveDate of the
    /// imported prices.
    #[arg(long)]
    effective_from: Option<String>,
    /// When the prices should be re-checked (YYYY-MM-DD).
    #[arg(long)]
    review_by: Option<String>,
    /// Fail (and write nothing) if anything was left out: an unmapped product, an unknown
    /// usage type, a unit or other problem.
    #[arg(long)]
    strict: bool,
}

pub fn run(action: Action) -> anyhow::Result<()> {
    match action {
        Action::Import(a) => import_cmd(a),
        Action::Diff { old, new, format } => diff_cmd(&old, &new, &format),
        Action::Check {
            card,
            source,
            format,
        } => check_cmd(&card, source, &format),
    }
}

/// Reads (or downloads) every offer file and imports them; every unreadable file is named.
fn load(source: &SourceArgs) -> anyhow::Result<import::Imported> {
    if source.price_list.is_empty() && !source.fetch {
        anyhow::bail!("no offer files: give --price-list FILE... or --fetch");
    }
    let mapping = match &source.mapping {
        Some(p) => mapping::load(p)?,
        None => mapping::Mapping::bundled(),
    };
    let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut errors = Vec::new();
    for p in &source.price_list {
        match std::fs::read(p) {
            Ok(b) => inputs.push((p.display().to_string(), b)),
            Err(e) => errors.push(format!("{}: cannot read: {e}", p.display())),
        }
    }
    let mut fetched = Vec::new();
    if source.fetch {
        let got = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?
            .block_on(fetch::fetch(&source.price_list_url, &source.regions))?;
        for note in &got.not_in_region {
            eprintln!("note: {note}");
        }
        for f in got.files {
            inputs.push((f.url.clone(), f.bytes.clone()));
            fetched.push(f);
        }
    }
    let mut offers = Vec::new();
    for (name, bytes) in &inputs {
        match offer::parse(bytes, name) {
            Ok(o) => offers.push(o),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !errors.is_empty() {
        anyhow::bail!(
            "{} offer file(s) could not be read:\n  - {}",
            errors.len(),
            errors.join("\n  - ")
        );
    }
    if let Some(dir) = &source.save_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for (f, o) in fetched
            .iter()
            .zip(offers.iter().skip(source.price_list.len()))
        {
            let region = f
                .region
                .as_deref()
                .map(|r| format!("-{r}"))
                .unwrap_or_default();
            let path = dir.join(format!("{}-{}{region}.json", f.code, o.meta.version));
            std::fs::write(&path, &f.bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(import::import(offers, &mapping))
}

fn import_cmd(a: ImportArgs) -> anyhow::Result<()> {
    let bad_dates: Vec<String> = [
        ("--effective-from", &a.effective_from),
        ("--review-by", &a.review_by),
    ]
    .into_iter()
    .filter_map(|(flag, v)| {
        let v = v.as_deref()?;
        crate::timefmt::parse_date(v)
            .is_none()
            .then(|| format!("{flag} {v:?} is not a date like 2026-10-01"))
    })
    .collect();
    if !bad_dates.is_empty() {
        anyhow::bail!("{}", bad_dates.join("\n"));
    }
    let imp = load(&a.source)?;
    let rep = report::render(&imp);
    if a.strict && imp.report.has_gaps() {
        print!("{rep}");
        anyhow::bail!(
            "--strict: the Price List has items that were left out (listed above); nothing written"
        );
    }
    if imp.rows.is_empty() {
        print!("{rep}");
        anyhow::bail!("no price could be imported (see the report above); nothing written");
    }
    let version = match a.card_version {
        Some(v) => v,
        None => format!(
            "price-list-{}",
            imp.newest_publication().unwrap_or("unknown")
        ),
    };
    let effective_from = match a.effective_from {
        Some(d) => d,
        None => imp
            .newest_effective_date()
            .context("no imported price has an effectiveDate; give --effective-from YYYY-MM-DD")?,
    };
    let header = card::Header {
        version,
        effective_from,
        review_by: a.review_by,
    };
    let text = card::render(&imp, &header);
    let out = a.out.display().to_string();
    let parsed = ratecard::parse(&text, &out)
        .map_err(|e| anyhow::anyhow!("the imported card would not be valid: {e}"))?;
    write_atomically(&a.out, &text)?;
    print!("{rep}");
    let prices = parsed.models.values().flat_map(|m| &m.rows).count();
    println!(
        "wrote {out}: version {}, effective from {}, {} models, {prices} price rows",
        parsed.version,
        header.effective_from,
        parsed.models.len()
    );
    Ok(())
}

fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn load_card(path: &Path) -> anyhow::Result<RateCard> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(ratecard::parse(&text, &path.display().to_string())?)
}

fn diff_cmd(old: &Path, new: &Path, format: &str) -> anyhow::Result<()> {
    let (a, b) = (load_card(old), load_card(new));
    let (a, b) = match (a, b) {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => {
            let errs: Vec<String> = [a.err(), b.err()]
                .into_iter()
                .flatten()
                .map(|e| format!("{e:#}"))
                .collect();
            anyhow::bail!("{}", errs.join("\n"));
        }
    };
    let d = diff::diff(&a, &b);
    if format == "json" {
        println!(
            "{}",
            serde_json::to_string_pretty(&diff::render_json(&d, &a, &b))?
        );
    } else {
        print!("{}", diff::render_text(&d, &a, &b));
    }
    Ok(())
}

fn check_cmd(card: &Path, source: SourceArgs, format: &str) -> anyhow::Result<()> {
    let c = load_card(card)?;
    let imp = load(&source)?;
    let result = check::check(&c, &imp);
    if format == "json" {
        let mut v = check::render_json(&result, &c);
        v["left_out_of_the_price_list"] = serde_json::json!({
            "unmapped_products": imp.report.unmapped.len(),
            "unknown_usage_types": imp.report.unknown.len(),
            "unit_problems": imp.report.unit_problems.len(),
            "other_problems": imp.report.problems.len(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", check::render_text(&result, &c));
        let r = &imp.report;
        if r.has_gaps() {
            println!(
                "not compared: {} unmapped products, {} unknown usage types, {} unit problems, \
                 {} other problems in the Price List (`ratecard import` lists them)",
                r.unmapped.len(),
                r.unknown.len(),
                r.unit_problems.len(),
                r.problems.len()
            );
        }
    }
    if !result.ok() {
        anyhow::bail!("{} disagrees with the Price List", c.path);
    }
    Ok(())
}
