//! Wire format of an AWS Price List offer file, JSON or CSV → one flat list of [`PriceItem`]s.
//!
//! Both forms are described in "Reading the service price list file for an AWS service"
//! (https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/reading-service-price-list-file-for-services.html).
//!
//! - JSON: `{formatVersion, offerCode, version, publicationDate, products{sku:{sku,
//!   productFamily, attributes{..}}}, terms{OnDemand|Reserved{sku:{termKey:{offerTermCode,
//!   sku, effectiveDate, termAttributes, priceDimensions{rateCode:{rateCode, description,
//!   beginRange, endRange, unit, pricePerUnit{USD}}}}}}}}`. The docs name the ranges
//!   `startingRange`/`endingRange`; the files say `beginRange`/`endRange`: both are read.
//! - CSV: five metadata rows (`"FormatVersion"`, `"Disclaimer"`, `"Publication Date"`,
//!   `"Version"`, `"OfferCode"`, each a name and a value), then a header row whose first
//!   columns are the price (`SKU`, `OfferTermCode`, `RateCode`, `TermType`,
//!   `PriceDescription`, `EffectiveDate`, `StartingRange`, `EndingRange`, `Unit`,
//!   `PricePerUnit`, `Currency`) and whose other columns are product attributes under display
//!   names (`Product Family`, `Location Type`, `usageType`, `Region Code`, `serviceName`...).
//!   The column names are the documented ones and those of published samples (EC2 files, and
//!   an `AmazonBedrockFoundationModels` header quoted by a public project's tests); the
//!   Bedrock attribute columns are **[assumed]** to follow the same display-name pattern.
//!
//! Attribute names are compared in one normal form, lower case without spaces or `_`
//! (`regionCode`, `Region Code` → `regioncode`), so the two forms give the same item. No
//! value is interpreted here: prices stay the strings the file has.

use std::collections::BTreeMap;

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// What identifies one offer file: every imported price cites it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferMeta {
    /// Where it was read from (a path or URL), for messages.
    pub file: String,
    pub offer_code: String,
    pub version: String,
    pub publication_date: String,
    /// sha256 of the bytes read, so a card names exactly what it was made from.
    pub sha256: String,
}

/// One price dimension of one term of one product: the unit of the Price List.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PriceItem {
    pub sku: String,
    /// `OnDemand` or `Reserved`.
    pub term_type: String,
    pub offer_term_code: String,
    pub rate_code: String,
    pub effective_date: String,
    pub description: String,
    pub begin_range: String,
    pub end_range: String,
    pub unit: String,
    /// The USD price per unit as written, if the dimension has one.
    pub usd: Option<String>,
    /// Other currencies the dimension is priced in (reported: only USD is imported).
    pub other_currencies: Vec<String>,
    /// Product attributes (and `productfamily`) under normalised names, see [`attr_key`].
    pub attributes: BTreeMap<String, String>,
}

impl PriceItem {
    /// An attribute by any spelling of its name (`regionCode`, `Region Code`).
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes.get(&attr_key(name)).map(String::as_str)
    }
}

/// An offer file read into items.
#[derive(Debug, Clone)]
pub struct Offer {
    pub meta: OfferMeta,
    pub items: Vec<PriceItem>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OfferError {
    #[error("{file}: not a Price List offer file: {reason}")]
    NotAnOffer { file: String, reason: String },
    #[error("{file}: line {line}: {reason}")]
    Csv {
        file: String,
        line: usize,
        reason: String,
    },
}

/// The normal form of an attribute name: lower case, without spaces and `_`.
pub fn attr_key(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, ' ' | '_'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Reads an offer file in either form, told apart by its first bytes.
pub fn parse(bytes: &[u8], file: &str) -> Result<Offer, OfferError> {
    let sha256 = hex::encode(Sha256::digest(bytes));
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let body = bytes[start..]
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(&bytes[start..]);
    let mut offer = match body.first() {
        Some(b'{') => parse_json(body, file)?,
        Some(_) if body.starts_with(b"\"FormatVersion\"") || body.starts_with(b"FormatVersion") => {
            parse_csv(body, file)?
        }
        _ => return Err(OfferError::NotAnOffer {
            file: file.into(),
            reason:
                "it is neither JSON (starting with `{`) nor CSV (starting with \"FormatVersion\")"
                    .into(),
        }),
    };
    offer.meta.sha256 = sha256;
    Ok(offer)
}

// ---- JSON ------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonOffer {
    offer_code: Option<String>,
    version: Option<String>,
    publication_date: Option<String>,
    #[serde(default)]
    products: BTreeMap<String, JsonProduct>,
    /// term type → sku → term key → term
    #[serde(default)]
    terms: BTreeMap<String, BTreeMap<String, BTreeMap<String, JsonTerm>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonProduct {
    product_family: Option<String>,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonTerm {
    offer_term_code: Option<String>,
    effective_date: Option<String>,
    #[serde(default)]
    price_dimensions: BTreeMap<String, JsonDimension>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonDimension {
    rate_code: Option<String>,
    description: Option<String>,
    #[serde(alias = "startingRange")]
    begin_range: Option<String>,
    #[serde(alias = "endingRange")]
    end_range: Option<String>,
    unit: Option<String>,
    #[serde(default)]
    price_per_unit: BTreeMap<String, String>,
}

fn parse_json(bytes: &[u8], file: &str) -> Result<Offer, OfferError> {
    let raw: JsonOffer = serde_json::from_slice(bytes).map_err(|e| OfferError::NotAnOffer {
        file: file.into(),
        reason: format!("invalid JSON: {e}"),
    })?;
    let meta = meta(
        file,
        raw.offer_code,
        raw.version,
        raw.publication_date,
        "offerCode, version and publicationDate",
    )?;
    let mut items = Vec::new();
    for (term_type, by_sku) in raw.terms {
        for (sku, terms) in by_sku {
            let attributes = raw
                .products
                .get(&sku)
                .map(|p| {
                    let mut a: BTreeMap<String, String> = p
                        .attributes
                        .iter()
                        .map(|(k, v)| (attr_key(k), v.clone()))
                        .collect();
                    if let Some(f) = &p.product_family {
                        a.insert("productfamily".into(), f.clone());
                    }
                    a
                })
                .unwrap_or_default();
            for term in terms.into_values() {
                for dim in term.price_dimensions.into_values() {
                    let mut prices = dim.price_per_unit;
                    items.push(PriceItem {
                        sku: sku.clone(),
                        term_type: term_type.clone(),
                        offer_term_code: term.offer_term_code.clone().unwrap_or_default(),
                        rate_code: dim.rate_code.unwrap_or_default(),
                        effective_date: term.effective_date.clone().unwrap_or_default(),
                        description: dim.description.unwrap_or_default(),
                        begin_range: dim.begin_range.unwrap_or_default(),
                        end_range: dim.end_range.unwrap_or_default(),
                        unit: dim.unit.unwrap_or_default(),
                        usd: prices.remove("USD"),
                        other_currencies: prices.into_keys().collect(),
                        attributes: attributes.clone(),
                    });
                }
            }
        }
    }
    Ok(Offer { meta, items })
}

fn meta(
    file: &str,
    offer_code: Option<String>,
    version: Option<String>,
    published: Option<String>,
    names: &str,
) -> Result<OfferMeta, OfferError> {
    match (offer_code, version, published) {
        (Some(offer_code), Some(version), Some(publication_date)) => Ok(OfferMeta {
            file: file.into(),
            offer_code,
            version,
            publication_date,
            sha256: String::new(),
        }),
        _ => Err(OfferError::NotAnOffer {
            file: file.into(),
            reason: format!("{names} are required (every imported price cites them)"),
        }),
    }
}

// ---- CSV -------------------------------------------------------------------------------------

/// The price columns; every other column is a product attribute.
const PRICE_COLUMNS: [&str; 11] = [
    "SKU",
    "OfferTermCode",
    "RateCode",
    "TermType",
    "PriceDescription",
    "EffectiveDate",
    "StartingRange",
    "EndingRange",
    "Unit",
    "PricePerUnit",
    "Currency",
];
const REQUIRED_COLUMNS: [&str; 4] = ["SKU", "TermType", "Unit", "PricePerUnit"];

fn parse_csv(bytes: &[u8], file: &str) -> Result<Offer, OfferError> {
    let text = std::str::from_utf8(bytes).map_err(|e| OfferError::NotAnOffer {
        file: file.into(),
        reason: format!("the CSV is not UTF-8: {e}"),
    })?;
    let mut records = CsvRecords::new(text);
    let csv_err = |line, reason: String| OfferError::Csv {
        file: file.into(),
        line,
        reason,
    };
    let mut head = BTreeMap::new();
    for _ in 0..5 {
        let (line, rec) = records
            .next()
            .ok_or_else(|| csv_err(0, "the file ends inside its five metadata rows".into()))?;
        let rec = rec.map_err(|e| csv_err(line, e))?;
        match rec.as_slice() {
            [name, value, ..] => {
                head.insert(name.clone(), value.clone());
            }
            _ => {
                return Err(csv_err(
                    line,
                    "a metadata row must be a name and a value".into(),
                ))
            }
        }
    }
    let meta = meta(
        file,
        head.remove("OfferCode"),
        head.remove("Version"),
        head.remove("Publication Date"),
        "the metadata rows \"OfferCode\", \"Version\" and \"Publication Date\"",
    )?;
    let (hline, header) = records
        .next()
        .ok_or_else(|| csv_err(0, "no header row after the metadata rows".into()))?;
    let header = header.map_err(|e| csv_err(hline, e))?;
    let col = |name: &str| header.iter().position(|h| h == name);
    let missing: Vec<&str> = REQUIRED_COLUMNS
        .into_iter()
        .filter(|c| col(c).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(csv_err(
            hline,
            format!("the header lacks column(s) {}", missing.join(", ")),
        ));
    }
    let idx: Vec<Option<usize>> = PRICE_COLUMNS.iter().map(|c| col(c)).collect();
    let attr_cols: Vec<(usize, String)> = header
        .iter()
        .enumerate()
        .filter(|(_, h)| !PRICE_COLUMNS.contains(&h.as_str()))
        .map(|(i, h)| (i, attr_key(h)))
        .collect();
    let mut items = Vec::new();
    for (line, rec) in records {
        let rec = rec.map_err(|e| csv_err(line, e))?;
        if rec.len() == 1 && rec[0].is_empty() {
            continue;
        }
        if rec.len() != header.len() {
            return Err(csv_err(
                line,
                format!(
                    "{} fields, but the header has {} columns",
                    rec.len(),
                    header.len()
                ),
            ));
        }
        let get = |i: usize| idx[i].map(|c| rec[c].clone()).unwrap_or_default();
        let currency = get(10);
        let price = get(9);
        let usd = (currency.is_empty() || currency == "USD").then(|| price.clone());
        items.push(PriceItem {
            sku: get(0),
            offer_term_code: get(1),
            rate_code: get(2),
            term_type: get(3),
            description: get(4),
            effective_date: get(5),
            begin_range: get(6),
            end_range: get(7),
            unit: get(8),
            other_currencies: if usd.is_none() {
                vec![currency]
            } else {
                Vec::new()
            },
            usd,
            attributes: attr_cols
                .iter()
                .filter(|(i, _)| !rec[*i].is_empty())
                .map(|(i, k)| (k.clone(), rec[*i].clone()))
                .collect(),
        });
    }
    Ok(Offer { meta, items })
}

/// RFC 4180 records: `,` separated, `"` quoted with `""` for a quote, CRLF or LF line ends,
/// line breaks allowed inside quotes. Yields (line number where the record starts, fields).
struct CsvRecords<'a> {
    rest: &'a str,
    line: usize,
}

impl<'a> CsvRecords<'a> {
    fn new(text: &'a str) -> Self {
        CsvRecords {
            rest: text,
            line: 1,
        }
    }
}

impl Iterator for CsvRecords<'_> {
    type Item = (usize, Result<Vec<String>, String>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let start_line = self.line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut chars = self.rest.char_indices().peekable();
        let mut in_quotes = false;
        let mut quoted = false;
        let mut end = self.rest.len();
        while let Some((i, c)) = chars.next() {
            if in_quotes {
                match c {
                    '"' if chars.peek().map(|x| x.1) == Some('"') => {
                        chars.next();
                        field.push('"');
                    }
                    '"' => in_quotes = false,
                    '\n' => {
                        self.line += 1;
                        field.push(c);
                    }
                    _ => field.push(c),
                }
                continue;
            }
            match c {
                '"' if field.is_empty() && !quoted => {
                    in_quotes = true;
                    quoted = true;
                }
                '"' => {
                    self.rest = "";
                    return Some((start_line, Err("a quote inside an unquoted field".into())));
                }
                ',' => {
                    fields.push(std::mem::take(&mut field));
                    quoted = false;
                }
                '\r' if chars.peek().map(|x| x.1) == Some('\n') => {}
                '\n' => {
                    end = i + 1;
                    self.line += 1;
                    break;
                }
                _ if quoted => {
                    self.rest = "";
                    return Some((start_line, Err("text after a closing quote".into())));
                }
                _ => field.push(c),
            }
        }
        if in_quotes {
            self.rest = "";
            return Some((start_line, Err("a quoted field is not closed".into())));
        }
        fields.push(field);
        self.rest = &self.rest[end..];
        Some((start_line, Ok(fields)))
    }
}

#[cfg(test)]
mod tests;
