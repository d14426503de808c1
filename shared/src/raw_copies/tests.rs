use super::*;

fn items(body: &str) -> Vec<DeliveryItem> {
    meta::parse_delivery(body.as_bytes(), 1_764_547_200_000).unwrap().items
}

fn subject(page: &str, psid: &str) -> (PageId, Psid) {
    (PageId::parse(page).unwrap(), Psid::parse(psid).unwrap())
}

#[test]
fn a_subjects_items_are_found_by_page_and_person_only() {
    let body = r#"{"object":"page","entry":[{"id":"101","time":1764547200000,"messaging":[
        {"sender":{"id":"2001"},"recipient":{"id":"101"},"timestamp":1764547200000,"message":{"mid":"m_a","text":"mine"}},
        {"sender":{"id":"20011"},"recipient":{"id":"101"},"timestamp":1764547200000,"message":{"mid":"m_b","text":"2001 is not me"}}]},
        {"id":"102","time":1764547200000,"messaging":[
        {"sender":{"id":"2001"},"recipient":{"id":"102"},"timestamp":1764547200000,"message":{"mid":"m_c","text":"other page"}}]}]}"#;
    let found: Vec<bool> = items(body)
        .iter()
        .map(|i| is_subjects(i, &[subject("101", "2001")]))
        .collect();
    assert_eq!(found, [true, false, false]);
}

#[test]
fn an_item_that_is_not_an_event_is_judged_by_whole_ids_in_its_text() {
    let body = r#"{"object":"page","entry":[{"id":"101","time":1764547200000,"messaging":[
        {"sender":{"id":"2001"},"recipient":{"id":"101"},"timestamp":1764547200000,"mystery":{"x":1}},
        {"sender":{"id":"120019"},"recipient":{"id":"101"},"timestamp":1764547200000,"mystery":{"x":1}}]}]}"#;
    let found: Vec<bool> = items(body)
        .iter()
        .map(|i| is_subjects(i, &[subject("101", "2001")]))
        .collect();
    assert_eq!(found, [true, false]);
    assert!(holds_id("{\"id\":\"2001\"}", "2001"));
    assert!(holds_id("{\"id\":2001}", "2001"));
    assert!(!holds_id("{\"id\":\"20012\"}", "2001") && !holds_id("12001", "2001"));
}
