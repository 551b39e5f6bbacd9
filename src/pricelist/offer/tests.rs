use super::*;

const JSON: &[u8] = br#"{
 "formatVersion":"v1.0","disclaimer":"x","offerCode":"AmazonBedrock","version":"20260901205051",
 "publicationDate":"2026-09-01T20:50:51Z",
 "products":{
  "SKU1":{"sku":"SKU1","productFamily":"Amazon Bedrock","attributes":{"regionCode":"ap-northeast-1","usagetype":"APN1-NovaPro-input-tokens","model":"Nova Pro","service_tier":"standard"}},
  "SKU2":{"sku":"SKU2","attributes":{"regionCode":"ap-northeast-1","usagetype":"APN1-NovaPro-output-tokens"}}},
 "terms":{
  "OnDemand":{
   "SKU1":{"SKU1.JRTCKXETXF":{"offerTermCode":"JRTCKXETXF","sku":"SKU1","effectiveDate":"2026-09-01T00:00:00Z","termAttributes":{},
    "priceDimensions":{"SKU1.JRTCKXETXF.6YS6EN2CT7":{"rateCode":"SKU1.JRTCKXETXF.6YS6EN2CT7","description":"$0.00096 per 1K input tokens","beginRange":"0","endRange":"Inf","unit":"1K tokens","pricePerUnit":{"USD":"0.0009600000"},"appliesTo":[]}}}}},
  "Reserved":{
   "SKU2":{"SKU2.4NA7Y494T4":{"offerTermCode":"4NA7Y494T4","sku":"SKU2","effectiveDate":"2026-09-01T00:00:00Z","termAttributes":{"LeaseContractLength":"1yr"},
    "priceDimensions":{"SKU2.4NA7Y494T4.A":{"rateCode":"SKU2.4NA7Y494T4.A","description":"d","startingRange":"0","endingRange":"Inf","unit":"Hrs","pricePerUnit":{"USD":"1.0","CNY":"7.0"}}}}}}}
}"#;

#[test]
fn a_json_offer_file_becomes_one_item_per_price_dimension() {
    let o = parse(JSON, "b.json").unwrap();
    assert_eq!(
        o.meta,
        OfferMeta {
            file: "b.json".into(),
            offer_code: "AmazonBedrock".into(),
            version: "20260901205051".into(),
            publication_date: "2026-09-01T20:50:51Z".into(),
            sha256: hex::encode(Sha256::digest(JSON)),
        }
    );
    assert_eq!(o.items.len(), 2);
    let on_demand = o.items.iter().find(|i| i.term_type == "OnDemand").unwrap();
    assert_eq!(on_demand.sku, "SKU1");
    assert_eq!(on_demand.offer_term_code, "JRTCKXETXF");
    assert_eq!(on_demand.rate_code, "SKU1.JRTCKXETXF.6YS6EN2CT7");
    assert_eq!(on_demand.effective_date, "2026-09-01T00:00:00Z");
    assert_eq!(
        (on_demand.begin_range.as_str(), on_demand.end_range.as_str()),
        ("0", "Inf")
    );
    assert_eq!(on_demand.unit, "1K tokens");
    assert_eq!(on_demand.usd.as_deref(), Some("0.0009600000"));
    assert_eq!(on_demand.attr("regionCode"), Some("ap-northeast-1"));
    assert_eq!(on_demand.attr("Region Code"), Some("ap-northeast-1"));
    assert_eq!(
        on_demand.attr("usageType"),
        Some("APN1-NovaPro-input-tokens")
    );
    assert_eq!(on_demand.attr("Service Tier"), Some("standard"));
    assert_eq!(on_demand.attr("productFamily"), Some("Amazon Bedrock"));
    let reserved = o.items.iter().find(|i| i.term_type == "Reserved").unwrap();
    // the documented range names are read too
    assert_eq!(
        (reserved.begin_range.as_str(), reserved.end_range.as_str()),
        ("0", "Inf")
    );
    assert_eq!(reserved.other_currencies, vec!["CNY".to_string()]);
}

const CSV: &str = "\u{feff}\"FormatVersion\",\"v1.0\"\r\n\
\"Disclaimer\",\"This pricing list is for informational purposes only.\"\r\n\
\"Publication Date\",\"2026-09-11T12:44:10Z\"\r\n\
\"Version\",\"20260911124410\"\r\n\
\"OfferCode\",\"AmazonBedrockFoundationModels\"\r\n\
\"SKU\",\"OfferTermCode\",\"RateCode\",\"TermType\",\"PriceDescription\",\"EffectiveDate\",\"StartingRange\",\"EndingRange\",\"Unit\",\"PricePerUnit\",\"Currency\",\"Location\",\"Location Type\",\"usageType\",\"operation\",\"Region Code\",\"serviceName\"\r\n\
\"TESTS46IN\",\"JRTCKXETXF\",\"TESTS46IN.JRTCKXETXF.6YS6EN2CT7\",\"OnDemand\",\"AWS Marketplace software usage|us-east-1|Million Input Tokens Regional CRIS\",\"2026-09-01T00:00:00Z\",\"0\",\"Inf\",\"1M tokens\",\"3.3000000000\",\"USD\",\"US East (N. Virginia)\",\"AWS Region\",\"USE1-MP:USE1_InputTokenCount-Units\",\"\",\"us-east-1\",\"Claude Sonnet 4.6 (Amazon Bedrock Edition)\"\r\n\
\"Q\",\"T\",\"R\",\"OnDemand\",\"a \"\"quoted\"\", multi\nline description\",\"2026-09-01T00:00:00Z\",\"0\",\"Inf\",\"Units\",\"1.5\",\"EUR\",\"\",\"\",\"x\",\"\",\"us-east-1\",\"s\"\r\n";

#[test]
fn a_csv_offer_file_gives_the_same_items_as_its_json_form() {
    let o = parse(CSV.as_bytes(), "f.csv").unwrap();
    assert_eq!(o.meta.offer_code, "AmazonBedrockFoundationModels");
    assert_eq!(o.meta.version, "20260911124410");
    assert_eq!(o.meta.publication_date, "2026-09-11T12:44:10Z");
    assert_eq!(o.items.len(), 2);
    let i = &o.items[0];
    assert_eq!(
        (
            i.sku.as_str(),
            i.term_type.as_str(),
            i.unit.as_str(),
            i.usd.as_deref()
        ),
        ("TESTS46IN", "OnDemand", "1M tokens", Some("3.3000000000"))
    );
    assert_eq!(i.rate_code, "TESTS46IN.JRTCKXETXF.6YS6EN2CT7");
    assert_eq!(
        i.description,
        "AWS Marketplace software usage|us-east-1|Million Input Tokens Regional CRIS"
    );
    assert_eq!(i.attr("regionCode"), Some("us-east-1"));
    assert_eq!(
        i.attr("usagetype"),
        Some("USE1-MP:USE1_InputTokenCount-Units")
    );
    assert_eq!(
        i.attr("servicename"),
        Some("Claude Sonnet 4.6 (Amazon Bedrock Edition)")
    );
    assert_eq!(i.attr("operation"), None, "empty cells are no attribute");
    let q = &o.items[1];
    assert_eq!(q.description, "a \"quoted\", multi\nline description");
    assert_eq!(
        (q.usd.as_deref(), q.other_currencies.clone()),
        (None, vec!["EUR".to_string()])
    );
}

#[test]
fn files_that_are_not_offer_files_say_why() {
    let e = |b: &[u8]| parse(b, "x").unwrap_err().to_string();
    assert!(e(b"hello").contains("neither JSON"), "{}", e(b"hello"));
    assert!(
        e(b"{\"offerCode\":\"A\"}").contains("offerCode, version and publicationDate are required")
    );
    assert!(e(b"{not json").contains("invalid JSON"));
    let short = "\"FormatVersion\",\"v1.0\"\n\"Disclaimer\",\"x\"\n";
    assert!(e(short.as_bytes()).contains("ends inside its five metadata rows"));
    let no_version = CSV.replace("\"Version\",\"20260911124410\"", "\"Versio\",\"1\"");
    assert!(
        e(no_version.as_bytes()).contains("\"Version\""),
        "{}",
        e(no_version.as_bytes())
    );
    let no_price = CSV.replace("\"PricePerUnit\"", "\"Price\"");
    assert!(
        e(no_price.as_bytes()).contains("line 6: the header lacks column(s) PricePerUnit"),
        "{}",
        e(no_price.as_bytes())
    );
    let ragged = format!("{CSV}\"only\",\"two\"\n");
    assert!(
        e(ragged.as_bytes()).contains("line 10: 2 fields, but the header has 17 columns"),
        "{}",
        e(ragged.as_bytes())
    );
    let open = format!("{CSV}\"unclosed,x\n");
    assert!(
        e(open.as_bytes()).contains("a quoted field is not closed"),
        "{}",
        e(open.as_bytes())
    );
}

#[test]
fn csv_records_follow_rfc_4180() {
    let recs: Vec<_> = CsvRecords::new("a,\"b,c\",\"\"\"\"\r\n,\n\"x\ny\",z").collect();
    assert_eq!(
        recs[0],
        (1, Ok(vec!["a".into(), "b,c".into(), "\"".into()]))
    );
    assert_eq!(recs[1], (2, Ok(vec!["".into(), "".into()])));
    assert_eq!(recs[2], (3, Ok(vec!["x\ny".into(), "z".into()])));
    assert_eq!(recs.len(), 3);
    let bad: Vec<_> = CsvRecords::new("a\"b\n").collect();
    assert!(bad[0].1.is_err());
}
