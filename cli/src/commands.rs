//! Each subcommand: build the request, call the API, print the answer
//! (`--json`: the API's JSON; otherwise [`render`]'s text).

use reqwest::Method;
use serde_json::{json, Value};

use crate::args::{BroadcastCmd, Command, NewBroadcastArgs, PageCmd, SubscriberCmd, TagCmd};
use crate::client::Api;
use crate::error::CliError;
use crate::{render, watch};

/// Where a command prints and in which form.
pub struct Out {
    pub json: bool,
}

impl Out {
    /// The API's JSON pretty-printed, or `text` of it.
    fn show(&self, v: &Value, text: fn(&Value) -> String) {
        if self.json {
            println!("{}", pretty(v));
        } else {
            println!("{}", text(v));
        }
    }
}

pub fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// Runs `command` against `api`; `page` is the page in force (flag, env or
/// profile).
///
/// # Errors
/// The API's error, a network failure, or a usage error (no page given
/// where one is needed, an unreadable `--message-file`, erase without
/// `--yes`).
pub async fn run(api: &Api, page: Option<&str>, command: Command, out: &Out) -> Result<(), CliError> {
    let need_page = || {
        page.ok_or_else(|| {
            CliError::Usage("no page: pass --page, set OPTCAST_PAGE, or put `page` in the profile".into())
        })
    };
    match command {
        Command::Page(PageCmd::List { limit, cursor }) => {
            let q = [("limit", limit.map(|l| l.to_string())), ("cursor", cursor)];
            let v = api.call(Method::GET, &["v1", "pages"], &q, None).await?;
            out.show(&v, render::page_list);
        }
        Command::Page(PageCmd::Show { page_id }) => {
            let id = match &page_id {
                Some(p) => p.as_str(),
                None => need_page()?,
            };
            let v = api.call(Method::GET, &["v1", "pages", id], &[], None).await?;
            out.show(&v, render::page_details);
        }
        Command::Page(PageCmd::Connect {
            access_token,
            retention_days,
            region,
            max_negative_rate,
            min_sends,
        }) => {
            let mut body = json!({});
            if let Some(t) = access_token {
                body["access_token"] = t.into();
            }
            if let Some(d) = retention_days {
                body["retention_days"] = d.into();
            }
            if let Some(r) = region {
                body["region"] = r.into();
            }
            if let (Some(rate), Some(min)) = (max_negative_rate, min_sends) {
                body["protection"] = json!({"max_negative_rate": rate, "min_sends": min});
            }
            let v = api
                .call(Method::PUT, &["v1", "pages", need_page()?], &[], Some(&body))
                .await?;
            out.show(&v, render::page);
        }
        Command::Broadcast(cmd) => broadcast(api, need_page, cmd, out).await?,
        Command::Subscriber(cmd) => subscriber(api, need_page()?, cmd, out).await?,
        Command::Export { psid, output } => {
            let q = [("page_id", Some(need_page()?.to_string())), ("psid", Some(psid))];
            let v = api.call(Method::GET, &["v1", "export"], &q, None).await?;
            match output {
                Some(path) => {
                    write_private(&path, (pretty(&v) + "\n").as_bytes())
                        .map_err(|e| CliError::Other(format!("writing {}: {e}", path.display())))?;
                    eprintln!("export written to {}", path.display());
                }
                None => println!("{}", pretty(&v)),
            }
        }
        Command::Erase { psid, yes, wait } => {
            if !yes {
                return Err(CliError::Usage(
                    "erasure destroys the lead's data key and cannot be undone: pass --yes to confirm".into(),
                ));
            }
            let body = json!({"page_id": need_page()?, "psid": psid});
            let v = api.call(Method::POST, &["v1", "erasure"], &[], Some(&body)).await?;
            let id = v["request_id"].as_str().unwrap_or_default().to_string();
            if wait {
                let done = watch::erasure(api, &id).await?;
                out.show(&done, render::erasure);
            } else if out.json {
                println!("{}", pretty(&v));
            } else {
                println!("{id}");
                eprintln!(
                    "erasure requested ({}); `optcast erasure {id}` shows its progress",
                    v["status"].as_str().unwrap_or("-")
                );
            }
        }
        Command::Erasure { request_id } => {
            let v = api
                .call(Method::GET, &["v1", "erasure", &request_id], &[], None)
                .await?;
            out.show(&v, render::erasure);
        }
        Command::Openapi => {
            let v = api.call(Method::GET, &["v1", "openapi.json"], &[], None).await?;
            println!("{}", pretty(&v));
        }
    }
    Ok(())
}

async fn broadcast<'p>(
    api: &Api,
    need_page: impl Fn() -> Result<&'p str, CliError>,
    cmd: BroadcastCmd,
    out: &Out,
) -> Result<(), CliError> {
    let control = |id: String, action: &'static str| async move {
        let v = api
            .call(Method::POST, &["v1", "broadcasts", &id, action], &[], None)
            .await?;
        out.show(&v, |v| {
            format!(
                "broadcast {}: {}\n{}",
                v["id"].as_str().unwrap_or("-"),
                v["state"].as_str().unwrap_or("-"),
                render::counts(&v["counts"])
            )
        });
        Ok::<(), CliError>(())
    };
    match cmd {
        BroadcastCmd::Create(args) => {
            let body = new_broadcast(need_page()?, &args)?;
            let v = api.call(Method::POST, &["v1", "broadcasts"], &[], Some(&body)).await?;
            if out.json {
                println!("{}", pretty(&v));
            } else {
                // The id alone on stdout: `id=$(optcast broadcast create …)`.
                println!("{}", v["id"].as_str().unwrap_or_default());
                eprintln!("broadcast created ({})", v["state"].as_str().unwrap_or("-"));
            }
        }
        BroadcastCmd::Preview {
            broadcast,
            limit,
            cursor,
        } => {
            let body = new_broadcast(need_page()?, &broadcast)?;
            let q = [("limit", limit.map(|l| l.to_string())), ("cursor", cursor)];
            let v = api
                .call(Method::POST, &["v1", "broadcasts", "preview"], &q, Some(&body))
                .await?;
            out.show(&v, render::preview);
        }
        BroadcastCmd::List { state, limit, cursor } => {
            let q = [
                ("page_id", Some(need_page()?.to_string())),
                ("state", state.map(|s| s.as_str().to_string())),
                ("limit", limit.map(|l| l.to_string())),
                ("cursor", cursor),
            ];
            let v = api.call(Method::GET, &["v1", "broadcasts"], &q, None).await?;
            out.show(&v, render::broadcast_list);
        }
        BroadcastCmd::Show { id } => {
            let v = api.call(Method::GET, &["v1", "broadcasts", &id], &[], None).await?;
            out.show(&v, render::broadcast);
        }
        BroadcastCmd::Pause { id } => control(id, "pause").await?,
        BroadcastCmd::Resume { id } => control(id, "resume").await?,
        BroadcastCmd::Cancel { id } => control(id, "cancel").await?,
        BroadcastCmd::Test { id, psids } => {
            let body = json!({ "psids": psids });
            let v = api
                .call(Method::POST, &["v1", "broadcasts", &id, "test"], &[], Some(&body))
                .await?;
            out.show(&v, render::test_results);
        }
        BroadcastCmd::Why { id, psid } => {
            let v = api
                .call(Method::GET, &["v1", "broadcasts", &id, "recipients", &psid], &[], None)
                .await?;
            out.show(&v, render::recipient);
        }
        BroadcastCmd::Watch {
            id,
            interval_ms,
            timeout,
        } => {
            let progress = watch::Progress::for_stderr(out.json);
            let watched = watch::broadcast(api, &id, interval_ms, timeout, progress).await?;
            let (watch::Watched::Ended(last) | watch::Watched::TimedOut(last)) = &watched;
            out.show(last, |v| {
                format!(
                    "broadcast {}: {}\n{}",
                    v["id"].as_str().unwrap_or("-"),
                    v["state"].as_str().unwrap_or("-"),
                    render::counts(&v["counts"])
                )
            });
            let state = last["state"].as_str().unwrap_or_default().to_string();
            match (watched, timeout) {
                (watch::Watched::TimedOut(_), Some(after)) => return Err(CliError::TimedOut { state, after }),
                _ if state != "done" => return Err(CliError::NotDone(state)),
                _ => {}
            }
        }
    }
    Ok(())
}

/// The create/preview body from the flags.
///
/// # Errors
/// [`CliError::Usage`] when `--message-file` cannot be read or is not JSON.
pub fn new_broadcast(page: &str, a: &NewBroadcastArgs) -> Result<Value, CliError> {
    let mut message = match (&a.text, &a.message_file) {
        (_, Some(path)) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
            serde_json::from_str::<Value>(&text)
                .map_err(|e| CliError::Usage(format!("{}: not JSON: {e}", path.display())))?
        }
        (Some(t), None) => json!({ "text": t }),
        (None, None) => return Err(CliError::Usage("a message: --text or --message-file".into())),
    };
    if !a.quick_replies.is_empty() {
        message["quick_replies"] = a
            .quick_replies
            .iter()
            .map(|(title, payload)| json!({"title": title, "payload": payload}))
            .collect();
    }
    let mut body = json!({ "page_id": page, "message": message });
    if !a.tags.is_empty() {
        body["tags"] = json!(a.tags);
    }
    if let Some(t) = &a.send_at {
        body["send_at"] = t.clone().into();
    }
    if let Some(n) = &a.name {
        body["name"] = n.clone().into();
    }
    Ok(body)
}

async fn subscriber(api: &Api, page: &str, cmd: SubscriberCmd, out: &Out) -> Result<(), CliError> {
    match cmd {
        SubscriberCmd::List {
            status,
            tag,
            limit,
            cursor,
        } => {
            let q = [
                ("status", status.map(|s| s.as_str().to_string())),
                ("tag", tag),
                ("limit", limit.map(|l| l.to_string())),
                ("cursor", cursor),
            ];
            let v = api
                .call(Method::GET, &["v1", "pages", page, "subscribers"], &q, None)
                .await?;
            out.show(&v, render::subscriber_list);
        }
        SubscriberCmd::Show { psid } => {
            let v = api
                .call(Method::GET, &["v1", "pages", page, "subscribers", &psid], &[], None)
                .await?;
            out.show(&v, render::subscriber);
        }
        SubscriberCmd::Tag(TagCmd::Add { psid, tag }) => {
            let path = ["v1", "pages", page, "subscribers", &psid, "tags", &tag];
            let v = api.call(Method::PUT, &path, &[], None).await?;
            out.show(&v, render::tag_result);
        }
        SubscriberCmd::Tag(TagCmd::Remove { psid, tag }) => {
            let path = ["v1", "pages", page, "subscribers", &psid, "tags", &tag];
            let v = api.call(Method::DELETE, &path, &[], None).await?;
            out.show(&v, render::tag_result);
        }
        SubscriberCmd::Tag(TagCmd::Bulk { tag, add, remove }) => {
            let body = json!({"add": add, "remove": remove});
            let v = api
                .call(Method::POST, &["v1", "pages", page, "tags", &tag], &[], Some(&body))
                .await?;
            out.show(&v, render::bulk_tag);
        }
    }
    Ok(())
}

/// Writes `bytes` to a file only its owner may read (an export holds a
/// person's messages): created with mode 0600 on Unix, and set so if it
/// existed.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let mut file = options.open(path)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(bytes)
    }
    #[cfg(not(unix))]
    {
        options.open(path)?.write_all(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> NewBroadcastArgs {
        NewBroadcastArgs {
            text: Some("Spring sale!".into()),
            message_file: None,
            quick_replies: vec![("Shop".into(), "SHOP".into())],
            tags: vec!["spring".into()],
            send_at: Some("2027-06-01T09:00:00Z".into()),
            name: None,
        }
    }

    #[test]
    fn the_create_body_is_the_apis_new_broadcast() {
        assert_eq!(
            new_broadcast("1000000000000001", &args()).unwrap(),
            json!({"page_id":"1000000000000001",
                   "message":{"text":"Spring sale!","quick_replies":[{"title":"Shop","payload":"SHOP"}]},
                   "tags":["spring"],"send_at":"2027-06-01T09:00:00Z"})
        );
    }

    #[test]
    fn optional_fields_are_left_out_when_not_given() {
        let a = NewBroadcastArgs {
            quick_replies: vec![],
            tags: vec![],
            send_at: None,
            ..args()
        };
        assert_eq!(
            new_broadcast("1", &a).unwrap(),
            json!({"page_id":"1","message":{"text":"Spring sale!"}})
        );
    }

    #[test]
    fn an_unreadable_message_file_is_a_usage_error() {
        let a = NewBroadcastArgs {
            text: None,
            message_file: Some("/nonexistent/m.json".into()),
            ..args()
        };
        assert!(matches!(new_broadcast("1", &a), Err(CliError::Usage(_))));
    }

    #[test]
    #[cfg(unix)]
    fn an_export_file_is_readable_by_its_owner_only_even_if_it_existed() {
        let path = std::env::temp_dir().join(format!("optcast-export-{}.json", std::process::id()));
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        write_private(&path, b"{}\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}\n");
        std::fs::remove_file(&path).unwrap();
    }
}
