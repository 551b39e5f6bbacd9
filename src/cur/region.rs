//! Billing region codes, the prefix of a usage type (`USE1` in `USE1-NovaPro-input-tokens`),
//! to region names. Pure. The code is not derivable from the name (ap-south-1 is `APS3`,
//! eu-west-1 is `EU`), so only codes with a source are here; any other is unknown and the
//! line says so rather than guessing.
//!
//! Sources:
//! - (AWS) "AWS Region billing codes",
//!   <https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-region-billing-codes.html>
//!   (North America, Africa, Asia Pacific read in full; its Europe table was cut off in the
//!   copy read, except `EU` = eu-west-1, which `shared/pricing/price-list.md` quotes from it).
//! - (S3) The Amazon S3 guide's "Understanding your AWS billing and usage reports for Amazon
//!   S3" region abbreviations (EUC1, EUW2, EUW3, SAE1, UGW1), read in a quotation.
//! - (3rd) Only third-party code (a published Go table of "bill region names"): EUN1, EUS1.
//!   Kept because Bedrock runs in both regions; check against a real export.

const CODES: [(&str, &str); 30] = [
    // (AWS) North America
    ("USE1", "us-east-1"),
    ("USE2", "us-east-2"),
    ("USW1", "us-west-1"),
    ("USW2", "us-west-2"),
    ("CAN1", "ca-central-1"),
    ("CAN2", "ca-west-1"),
    ("MXC1", "mx-central-1"),
    // (AWS) Africa
    ("AFS1", "af-south-1"),
    // (AWS) Asia Pacific
    ("APE1", "ap-east-1"),
    ("APE2", "ap-east-2"),
    ("APN1", "ap-northeast-1"),
    ("APN2", "ap-northeast-2"),
    ("APN3", "ap-northeast-3"),
    ("APS1", "ap-southeast-1"),
    ("APS2", "ap-southeast-2"),
    ("APS3", "ap-south-1"),
    ("APS4", "ap-southeast-3"),
    ("APS5", "ap-south-2"),
    ("APS6", "ap-southeast-4"),
    ("APS7", "ap-southeast-5"),
    ("APS8", "ap-southeast-6"),
    ("APS9", "ap-southeast-7"),
    // (AWS) Europe
    ("EU", "eu-west-1"),
    // (S3)
    ("EUC1", "eu-central-1"),
    ("EUW2", "eu-west-2"),
    ("EUW3", "eu-west-3"),
    ("SAE1", "sa-east-1"),
    ("UGW1", "us-gov-west-1"),
    // (3rd)
    ("EUN1", "eu-north-1"),
    ("EUS1", "eu-south-1"),
];

/// The region a billing code stands for, if this table knows it.
pub fn region_of(code: &str) -> Option<&'static str> {
    CODES.iter().find(|(c, _)| *c == code).map(|(_, r)| *r)
}

/// The billing code a usage type starts with (`USE1` of `USE1-MP:USE1_InputTokenCount-Units`).
pub fn code_of(usage_type: &str) -> Option<&str> {
    usage_type.split_once('-').map(|(code, _)| code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_that_trip_people_up() {
        assert_eq!(region_of("APS3"), Some("ap-south-1"));
        assert_eq!(region_of("APS1"), Some("ap-southeast-1"));
        assert_eq!(region_of("EU"), Some("eu-west-1"));
        assert_eq!(region_of("USE1"), Some("us-east-1"));
        assert_eq!(region_of("EUW1"), None, "eu-west-1 is EU, not EUW1");
        assert_eq!(region_of("use1"), None);
    }

    #[test]
    fn the_table_is_one_to_one() {
        for (i, (c, r)) in CODES.iter().enumerate() {
            for (c2, r2) in &CODES[i + 1..] {
                assert_ne!(c, c2);
                assert_ne!(r, r2);
            }
        }
    }

    #[test]
    fn the_code_of_a_usage_type() {
        assert_eq!(code_of("USE1-NovaPro-input-tokens"), Some("USE1"));
        assert_eq!(code_of("EU-MP:EU_InputTokenCount_Global-Units"), Some("EU"));
        assert_eq!(code_of("NovaPro"), None);
    }
}
