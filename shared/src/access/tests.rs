use super::*;

fn page(p: &str) -> PageId {
    PageId::parse(p).unwrap()
}

fn sha(t: &str) -> String {
    hex::encode(Sha256::digest(t.as_bytes()))
}

#[test]
fn a_token_table_gives_each_token_its_pages_and_scopes() {
    let json = format!(
        r#"{{"tokens":[
            {{"name":"eu-marketing","token_sha256":"{}","pages":["101","102"],"scopes":["broadcasts:write","broadcasts:read"]}},
            {{"name":"dpo","token_sha256":"{}","pages":"*","scopes":["data:export","data:erase"]}}]}}"#,
        sha("tok-eu"),
        sha("tok-dpo")
    );
    let table = TokenTable::parse(&json).unwrap();
    let eu = table.authenticate("tok-eu").unwrap();
    assert_eq!(eu.name, "eu-marketing");
    assert!(eu.sees(&page("101")) && !eu.sees(&page("103")));
    assert_eq!(eu.require_page(&page("103")), Err(AccessError::PageNotVisible));
    assert_eq!(
        eu.require(Scope::DataExport),
        Err(AccessError::MissingScope(Scope::DataExport))
    );
    assert_eq!(eu.require(Scope::BroadcastsWrite), Ok(()));
    let dpo = table.authenticate("tok-dpo").unwrap();
    assert!(dpo.sees(&page("999")));
    assert_eq!(
        dpo.require(Scope::PagesWrite),
        Err(AccessError::MissingScope(Scope::PagesWrite))
    );
    assert_eq!(table.authenticate("tok-other"), None);
    assert_eq!(table.authenticate(""), None);
}

#[test]
fn a_token_table_with_anything_unknown_is_refused() {
    for bad in [
        r#"{"tokens":[{"name":"a","token_sha256":"zz","pages":"*","scopes":[]}]}"#.to_string(),
        format!(
            r#"{{"tokens":[{{"name":"a","token_sha256":"{}","pages":"*","scopes":["admin"]}}]}}"#,
            sha("x")
        ),
        format!(
            r#"{{"tokens":[{{"name":"a","token_sha256":"{}","pages":["PAGE1"],"scopes":[]}}]}}"#,
            sha("x")
        ),
        format!(
            r#"{{"tokens":[{{"name":"a","token_sha256":"{}","pages":"*","scopes":[],"token":"x"}}]}}"#,
            sha("x")
        ),
        "not json".to_string(),
    ] {
        assert!(matches!(TokenTable::parse(&bad), Err(AccessError::Config(_))), "{bad}");
    }
}

#[test]
fn jwt_claims_give_scopes_and_pages() {
    let claims = HashMap::from([
        ("sub".to_string(), "user-7".to_string()),
        (
            "scope".to_string(),
            "broadcasts:read openid subscribers:read".to_string(),
        ),
        ("optcast_pages".to_string(), "[101 102]".to_string()),
    ]);
    let caller = from_jwt(&claims, None, "optcast_pages").unwrap();
    assert_eq!(caller.name, "user-7");
    assert_eq!(
        caller.scopes,
        BTreeSet::from([Scope::BroadcastsRead, Scope::SubscribersRead])
    );
    assert_eq!(caller.pages, Pages::Only(BTreeSet::from([page("101"), page("102")])));
    // API Gateway's own scopes list wins when present.
    let given = ["data:erase".to_string()];
    let caller = from_jwt(&claims, Some(&given), "optcast_pages").unwrap();
    assert_eq!(caller.scopes, BTreeSet::from([Scope::DataErase]));
    // No pages claim: no page at all; "*": every page.
    let bare = HashMap::from([("sub".to_string(), "x".to_string())]);
    let caller = from_jwt(&bare, None, "optcast_pages").unwrap();
    assert!(!caller.sees(&page("101")) && caller.scopes.is_empty());
    let star = HashMap::from([
        ("sub".to_string(), "x".to_string()),
        ("optcast_pages".to_string(), "*".to_string()),
    ]);
    assert_eq!(from_jwt(&star, None, "optcast_pages").unwrap().pages, Pages::All);
    let anonymous = HashMap::from([("optcast_pages".to_string(), "*".to_string())]);
    assert_eq!(
        from_jwt(&anonymous, None, "optcast_pages"),
        Err(AccessError::Unauthenticated)
    );
    let forged = HashMap::from([
        ("sub".to_string(), "x".to_string()),
        ("optcast_pages".to_string(), "101,../x".to_string()),
    ]);
    assert!(from_jwt(&forged, None, "optcast_pages").is_err());
}

#[test]
fn records_without_a_page_are_for_callers_of_every_page() {
    let admin = Caller::admin("root");
    assert_eq!(admin.require_optional_page(None), Ok(()));
    let some = Caller {
        pages: Pages::Only(BTreeSet::from([page("101")])),
        ..Caller::admin("x")
    };
    assert_eq!(some.require_optional_page(None), Err(AccessError::PageNotVisible));
    assert_eq!(some.require_optional_page(Some(&page("101"))), Ok(()));
}
