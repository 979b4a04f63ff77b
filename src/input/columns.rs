//! Which header each column is read from (SPEC 9.1): header names are compared after
//! [`normalize`]; a column is read from the header the config file names for it, else its own name,
//! else the first of its known export names ([`KNOWN_EXPORT_NAMES`]) that the file has.

use std::collections::BTreeMap;

use crate::input::ColumnSpec;
use crate::rejects::Source;

/// The known export names of each column, in the order they are tried (SPEC 9.1's table): where a
/// file holds two of them, the earlier wins.
pub const KNOWN_EXPORT_NAMES: &[(Source, &str, &[&str])] = &[
    (Source::Claims, "claim_id", &["ClaimId", "AssociationId"]),
    (Source::Claims, "partner_id", &["PartnerId", "MpnId", "PartnerLocationId", "PGAMpnId"]),
    (Source::Claims, "tenant_id", &["CustomerTenantId", "TenantId"]),
    (Source::Claims, "engagement", &["EngagementName", "Engagement", "Program"]),
    (Source::Claims, "workload", &["WorkloadName", "Workload"]),
    (Source::Claims, "subscription_id", &["SubscriptionId"]),
    (
        Source::Claims,
        "customer_country",
        &["CustomerCountryCode", "CustomerCountry", "CustomerTenantCountry", "CustomerMarket", "Country"],
    ),
    (Source::Claims, "submitted_at", &["SubmittedDate", "SubmittedOn", "SubmissionDate", "CreatedDate"]),
    (Source::Claims, "notified_at", &["CustomerNotifiedDate", "NotifiedDate", "NotificationDate"]),
    (Source::Responses, "response_id", &["ResponseId"]),
    (Source::Responses, "claim_id", &["ClaimId", "AssociationId"]),
    (Source::Responses, "tenant_id", &["CustomerTenantId", "TenantId"]),
    (Source::Responses, "response", &["CustomerResponse", "Decision"]),
    (Source::Responses, "responded_at", &["ResponseDate", "RespondedDate"]),
    (Source::Usage, "tenant_id", &["CustomerTenantId", "TenantId"]),
    (Source::Usage, "workload", &["WorkloadName", "Workload"]),
    (Source::Usage, "subscription_id", &["SubscriptionId"]),
    (Source::Usage, "date", &["Date", "Month", "MonthKey", "DateKey", "ReportDate"]),
    (Source::Usage, "active_users", &["MonthlyActiveUsers", "ActiveUsers", "MAU", "ActiveSeats", "LicensesActive"]),
    (
        Source::Usage,
        "paid_seats",
        &["PaidAvailableUnits", "PAU", "PaidSeats", "AvailableSeats", "CPORPaidSeats", "LicensesSold"],
    ),
    (Source::Usage, "assigned_seats", &["AssignedSeats", "AssignedLicenses", "LicensesDeployed"]),
];

/// The columns of a source, as the table lists them: every column of section 2 (a unit test holds
/// the table to the record parsers' columns), so the config file's `[columns.*]` keys are checked
/// against it.
pub fn known_columns(source: Source) -> impl Iterator<Item = &'static str> {
    KNOWN_EXPORT_NAMES.iter().filter(move |(s, _, _)| *s == source).map(|(_, c, _)| *c)
}

/// The known export names of a source's column, in order; none for a column the table lacks.
pub fn export_names(source: Source, column: &str) -> &'static [&'static str] {
    KNOWN_EXPORT_NAMES.iter().find(|(s, c, _)| *s == source && *c == column).map_or(&[], |(_, _, names)| names)
}

/// A header name as compared (SPEC 9.1): lower-cased, without white space, `_` and `-`, so that
/// `Customer Tenant ID`, `CustomerTenantId` and `customer_tenant_id` are one name.
pub fn normalize(name: &str) -> String {
    name.chars().filter(|c| !c.is_whitespace() && *c != '_' && *c != '-').flat_map(char::to_lowercase).collect()
}

/// The config file's `[columns.claims]`, `[columns.responses]` and `[columns.usage]` tables: column
/// name → the header to read it from. Each column name is one the source knows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ColumnMap {
    by_source: BTreeMap<Source, BTreeMap<String, String>>,
}

impl ColumnMap {
    /// Maps `column` of `source` to `header`; the column must be one of the source's `columns`.
    pub fn insert(&mut self, source: Source, column: &str, header: &str) {
        self.by_source.entry(source).or_default().insert(column.to_string(), header.to_string());
    }

    /// The tables, by input name, as summary.json records them.
    pub fn tables(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        self.by_source.iter().map(|(source, table)| (source.as_str().to_string(), table.clone())).collect()
    }

    /// The header the config file names for `column` of `source`, if any.
    pub fn get(&self, source: Source, column: &str) -> Option<&str> {
        self.by_source.get(&source)?.get(column).map(String::as_str)
    }
}

/// Why a file's header cannot give a column.
#[derive(Debug, PartialEq, Eq)]
pub enum Unmatched {
    /// The config file names a header the file lacks.
    Mapped { column: &'static str, header: String },
    /// A required column that none of its names finds: the names tried, in order.
    Required { column: &'static str, tried: Vec<String> },
}

/// Finds each of `columns` in `header`, in the order of SPEC 9.1: the config file's header, its own
/// name, its export names. Where the header holds one name twice, the first occurrence is read.
/// A required column not found, or a mapped header missing, is an [`Unmatched`].
pub fn match_columns(
    source: Source,
    columns: &[ColumnSpec],
    header: &[String],
    map: &ColumnMap,
) -> Result<Vec<Option<usize>>, Unmatched> {
    let normalized: Vec<String> = header.iter().map(|h| normalize(h)).collect();
    let find = |name: &str| {
        let wanted = normalize(name);
        normalized.iter().position(|h| *h == wanted)
    };
    let mut found = Vec::with_capacity(columns.len());
    for spec in columns {
        if let Some(mapped) = map.get(source, spec.name) {
            match find(mapped) {
                Some(index) => found.push(Some(index)),
                None => return Err(Unmatched::Mapped { column: spec.name, header: mapped.to_string() }),
            }
            continue;
        }
        let names = || std::iter::once(spec.name).chain(export_names(source, spec.name).iter().copied());
        let index = names().find_map(find);
        if spec.required && index.is_none() {
            return Err(Unmatched::Required { column: spec.name, tried: names().map(str::to_string).collect() });
        }
        found.push(index);
    }
    Ok(found)
}

/// The names tried for a column, as an error shows them: `'a', 'b' or 'c'`.
pub fn tried_names(source: Source, columns: &[&str]) -> String {
    let names: Vec<String> = columns
        .iter()
        .flat_map(|c| std::iter::once(*c).chain(export_names(source, c).iter().copied()))
        .map(|n| format!("'{n}'"))
        .collect();
    match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    const SPECS: &[ColumnSpec] = &[
        ColumnSpec { name: "tenant_id", required: true },
        ColumnSpec { name: "date", required: true },
        ColumnSpec { name: "active_users", required: false },
        ColumnSpec { name: "paid_seats", required: false },
    ];

    #[test]
    fn header_names_normalize_alike() {
        for name in
            ["Customer Tenant ID", "CustomerTenantId", "customerTenantId", "customer_tenant_id", " customer-tenant-id "]
        {
            assert_eq!(normalize(name), "customertenantid", "{name:?}");
        }
        assert_ne!(normalize("tenant_id"), normalize("CustomerTenantId"));
    }

    #[test]
    fn the_table_lists_every_column_of_every_source() {
        use crate::input::RecordParser;
        use crate::records::{ClaimParser, ResponseParser, UsageParser};
        for (source, column, names) in KNOWN_EXPORT_NAMES {
            let specs = match source {
                Source::Claims => ClaimParser::COLUMNS,
                Source::Responses => ResponseParser::COLUMNS,
                Source::Usage => UsageParser::COLUMNS,
            };
            assert!(specs.iter().any(|s| s.name == *column), "{source} {column}");
            assert!(!names.is_empty());
        }
        for (source, specs) in [
            (Source::Claims, ClaimParser::COLUMNS),
            (Source::Responses, ResponseParser::COLUMNS),
            (Source::Usage, UsageParser::COLUMNS),
        ] {
            let known: Vec<&str> = known_columns(source).collect();
            assert_eq!(known, specs.iter().map(|s| s.name).collect::<Vec<_>>(), "{source}: the table in column order");
        }
    }

    #[test]
    fn config_beats_own_name_beats_export_names() {
        let h = header(&["Customer Tenant ID", "tenant_id", "Tenant Key", "Date", "Licenses Active"]);
        let none = ColumnMap::default();
        // Own name before export names, even when an export name comes first in the file.
        assert_eq!(match_columns(Source::Usage, SPECS, &h, &none).unwrap(), [Some(1), Some(3), Some(4), None]);
        let mut map = ColumnMap::default();
        map.insert(Source::Usage, "tenant_id", "tenant-key");
        assert_eq!(match_columns(Source::Usage, SPECS, &h, &map).unwrap()[0], Some(2));
        // A mapping of another source changes nothing.
        let mut other = ColumnMap::default();
        other.insert(Source::Claims, "tenant_id", "Tenant Key");
        assert_eq!(match_columns(Source::Usage, SPECS, &h, &other).unwrap()[0], Some(1));
    }

    #[test]
    fn two_export_names_present_the_earlier_in_the_table_wins() {
        // ReportDate and MAU come first in the file; Month and MonthlyActiveUsers first in the table.
        let h = header(&["CustomerTenantId", "ReportDate", "Month", "MAU", "MonthlyActiveUsers", "LicensesSold"]);
        let found = match_columns(Source::Usage, SPECS, &h, &ColumnMap::default()).unwrap();
        assert_eq!(found, [Some(0), Some(2), Some(4), Some(5)]);
        // `TenantId` is the own name `tenant_id` once normalized, so it beats `CustomerTenantId`.
        let h = header(&["CustomerTenantId", "TenantId", "Date", "PAU"]);
        assert_eq!(match_columns(Source::Usage, SPECS, &h, &ColumnMap::default()).unwrap()[0], Some(1));
    }

    #[test]
    fn a_missing_column_names_what_was_tried() {
        let h = header(&["CustomerTenantId", "MAU"]);
        let err = match_columns(Source::Usage, SPECS, &h, &ColumnMap::default()).unwrap_err();
        let tried = header(&["date", "Date", "Month", "MonthKey", "DateKey", "ReportDate"]);
        assert_eq!(err, Unmatched::Required { column: "date", tried });
        let mut map = ColumnMap::default();
        map.insert(Source::Usage, "active_users", "Users");
        let h = header(&["CustomerTenantId", "Date", "MAU"]);
        let err = match_columns(Source::Usage, SPECS, &h, &map).unwrap_err();
        assert_eq!(err, Unmatched::Mapped { column: "active_users", header: "Users".into() });
    }

    #[test]
    fn tried_names_read_as_a_list() {
        assert_eq!(tried_names(Source::Responses, &["response_id"]), "'response_id' or 'ResponseId'");
        assert_eq!(tried_names(Source::Claims, &["x"]), "'x'");
    }
}
