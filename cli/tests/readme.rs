//! The README's walkthrough runs as written (issue 13): every block fenced
//! ```` ```sh ```` is taken, in order, and run in one bash session from the
//! repository root, the way a new user pastes them. Blocks fenced otherwise
//! (```` ```bash ````, ```` ```toml ````, …) are shown, not run: `make test`
//! (it would run this test), deploying to AWS, installing.
//!
//! What the test provides, and nothing else:
//! - the stack's address `127.0.0.1:3000` becomes a free port (so the test
//!   can run beside a developer's `make dev`), also given to `make dev` as
//!   `PORT`;
//! - `make dev` gets the emulator of the suite (`AWS_ENDPOINT_URL`), its
//!   own resource prefix (`OPTCAST_PREFIX`) and `OPTCAST_LOCAL_BIN`, the
//!   `optcast-local` cargo built with this test, so it builds nothing;
//! - `optcast` is on `PATH` (the binary this test was built with);
//! - `HOME` is an empty directory (no profile file of the developer's).
//!
//! It fails when a command fails (`set -e`), when any answer is a 401 (the
//! fault issue 13 found: a token exported after `make dev` started), and
//! when the `text` of a command's comment ` # … -> text` is not in what the
//! walkthrough printed on stdout (in order: each after the one before).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The ```` ```sh ```` blocks of `markdown`, in order.
fn walkthrough(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match &mut current {
            None if line.trim() == "```sh" => current = Some(String::new()),
            None => {}
            Some(_) if line.trim() == "```" => blocks.extend(current.take()),
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    assert!(current.is_none(), "an unclosed ```sh block");
    blocks
}

/// The expectations of `script`, in order: the text after `-> ` in a
/// command's comment (` # … -> text`).
fn expectations(script: &str) -> Vec<String> {
    script
        .lines()
        .filter_map(|l| l.split_once(" # ").and_then(|(_, comment)| comment.split_once("-> ")))
        .map(|(_, want)| want.trim().to_string())
        .filter(|w| !w.is_empty())
        .collect()
}

/// The first of `wants` not found in `output` after the one before it.
fn first_unmet<'a>(output: &str, wants: &'a [String]) -> Option<&'a str> {
    let mut from = 0;
    for want in wants {
        match output[from..].find(want.as_str()) {
            Some(at) => from += at + want.len(),
            None => return Some(want),
        }
    }
    None
}

/// A free port below Linux's ephemeral range (32768–60999): a port the
/// kernel gave out and took back may be handed to an outgoing connection
/// (the other stack's to the emulator) before `make dev` binds it.
fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let mut seed = std::collections::hash_map::RandomState::new().build_hasher();
    seed.write_u32(std::process::id());
    let start = seed.finish();
    (0..12_000u64)
        .map(|i| 20_000 + ((start + i) % 12_000) as u16)
        .find(|&port| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok())
        .expect("a free port in 20000-31999")
}

/// The newest modification time of the `.rs` files under `dir`.
fn newest_source(dir: &Path) -> Option<(SystemTime, PathBuf)> {
    let mut newest: Option<(SystemTime, PathBuf)> = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let found = if path.is_dir() {
            newest_source(&path)
        } else if path.extension().is_some_and(|e| e == "rs") {
            entry.metadata().ok()?.modified().ok().map(|t| (t, path))
        } else {
            None
        };
        if let Some(f) = found {
            if newest.as_ref().is_none_or(|n| f.0 > n.0) {
                newest = Some(f);
            }
        }
    }
    newest
}

/// The `optcast-local` beside this test's `optcast`: `make test` builds
/// both in one cargo run. Refused when a source it is built from is newer
/// (run alone, `cargo test -p optcast-cli` does not rebuild it).
fn local_stack_binary() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_optcast")).with_file_name("optcast-local");
    let built = std::fs::metadata(&bin).and_then(|m| m.modified()).unwrap_or_else(|_| {
        panic!(
            "{} is missing: `cargo build --bin optcast-local` (make test builds it)",
            bin.display()
        )
    });
    let root = root();
    let mut dirs = vec![root.join("shared/src"), root.join("infra/local/src")];
    for function in std::fs::read_dir(root.join("functions")).unwrap().flatten() {
        dirs.push(function.path().join("src"));
    }
    for dir in dirs {
        if let Some((t, path)) = newest_source(&dir) {
            assert!(
                t <= built,
                "{} is older than {}: `cargo build --bin optcast-local` first",
                bin.display(),
                path.display()
            );
        }
    }
    bin
}

/// Stops every process the walkthrough started (`make dev` in the
/// background included): they share the session's process group, whose id
/// is the session's pid.
struct Group(u32);

impl Drop for Group {
    fn drop(&mut self) {
        stop_group(self.0);
    }
}

/// SIGTERM to process group `pgid` and nothing else: `killpg`, never the
/// `kill` command, whose procps-ng 4 version reads `kill -TERM -<pgid>`
/// (without `--`) as `kill(-1)`: every process the caller may signal.
/// Groups 0 (the caller's own) and 1 are refused.
fn stop_group(pgid: u32) {
    if let Ok(pgid) = libc::pid_t::try_from(pgid) {
        if pgid > 1 {
            // SAFETY: killpg only sends a signal; no memory is involved.
            unsafe {
                libc::killpg(pgid, libc::SIGTERM);
            }
        }
    }
}

#[test]
fn the_readme_walkthrough_runs_verbatim_in_order() {
    use std::os::unix::process::CommandExt;

    let root = root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let blocks = walkthrough(&readme);
    assert!(blocks.len() >= 4, "the README has its walkthrough blocks");
    let port = free_port();
    let script = blocks.concat().replace("127.0.0.1:3000", &format!("127.0.0.1:{port}"));
    let wants = expectations(&script);
    // The trace (stderr) shows when each command started (bash run as root
    // takes no PS4 from the environment).
    let script = format!("PS4='+ [${{SECONDS}}s] '\n{script}");

    let local_bin = local_stack_binary();
    let optcast = Path::new(env!("CARGO_BIN_EXE_optcast"));
    let home = std::env::temp_dir().join(format!("optcast-readme-home-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    // Expectations are looked for on stdout only: the trace (`-x`) and the
    // stack's logs go to stderr and would echo the commands' own text.
    let out_path = home.join("stdout.log");
    let err_path = home.join("stderr.log");
    let path = format!(
        "{}:{}",
        optcast.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".into());
    let prefix = format!("readme{}", std::process::id() % 100_000);

    let mut child = Command::new("bash")
        .args([
            "--noprofile",
            "--norc",
            "-o",
            "errexit",
            "-o",
            "pipefail",
            "-x",
            "-c",
            &script,
        ])
        .current_dir(&root)
        .env_clear()
        .env("PATH", path)
        .env("HOME", &home)
        .env("LANG", "C.UTF-8")
        .env("PORT", port.to_string())
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("OPTCAST_PREFIX", prefix)
        .env("OPTCAST_LOCAL_BIN", local_bin)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .process_group(0)
        .spawn()
        .expect("bash runs");
    let _group = Group(child.id());
    let status = exit_within(&mut child, Duration::from_secs(600));
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let (stdout, stderr) = (read(&out_path), read(&err_path));
    let tail = |text: &str| {
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(80)..].join("\n")
    };
    // What CI shows of a failure is this message: the files are gone with
    // its machine. The stack's own log is where `make dev` says why it
    // stopped.
    let said = || {
        format!(
            "--- stdout\n{}\n--- stderr (the trace)\n{}\n--- .local/dev.log\n{}",
            tail(&stdout),
            tail(&stderr),
            tail(&read(&root.join(".local/dev.log")))
        )
    };
    let status = status.unwrap_or_else(|| panic!("the walkthrough hung:\n{}", said()));
    assert!(status.success(), "a README command failed ({status}):\n{}", said());
    for text in [&stdout, &stderr] {
        assert!(
            !text.contains(r#""code":"unauthorized""#) && !text.contains("(unauthorized)"),
            "an API call of the README was refused 401:\n{}",
            tail(text)
        );
    }
    if let Some(want) = first_unmet(&stdout, &wants) {
        panic!(
            "the README says a command prints {want:?}; it did not (in order). stdout, last lines:\n{}",
            tail(&stdout)
        );
    }
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn only_sh_blocks_are_the_walkthrough() {
    let md =
        "text\n```sh\necho one # said -> one\n```\n```bash\nmake test\n```\n  ```sh\n  echo two  # -> two\n  ```\n";
    assert_eq!(walkthrough(md), ["echo one # said -> one\n", "  echo two  # -> two\n"]);
    assert_eq!(expectations(&walkthrough(md).concat()), ["one", "two"]);
}

#[test]
fn expectations_are_met_only_in_order() {
    let wants = vec!["42".to_string(), "EVENT_RECEIVED".to_string()];
    assert_eq!(first_unmet("+ curl\n42\n+ curl\nEVENT_RECEIVED\n", &wants), None);
    assert_eq!(first_unmet("EVENT_RECEIVED\n42\n", &wants), Some("EVENT_RECEIVED"));
}

#[test]
fn stopping_the_walkthrough_stops_its_group_and_spares_every_other_process() {
    use std::os::unix::process::CommandExt;
    let spawn = || Command::new("sleep").arg("30").process_group(0).spawn().unwrap();
    let (mut group, mut bystander) = (spawn(), spawn());
    stop_group(group.id());
    assert!(!group.wait().unwrap().success(), "the group is stopped");
    assert!(bystander.try_wait().unwrap().is_none(), "another group lives on");
    bystander.kill().unwrap();
    bystander.wait().unwrap();
}

/// `child`'s exit status, once it exits within `bound`; `None` if it is
/// still running then. A bound only so a hung process ends the test, not a
/// timing assertion.
fn exit_within(child: &mut std::process::Child, bound: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + bound;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.try_wait().unwrap()
}

/// The status code of `GET <path>` on `127.0.0.1:<port>` with `token`, or
/// `None` while nothing listens there.
fn get_status(port: u16, path: &str, token: &str) -> Option<u16> {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nauthorization: Bearer {token}\r\nconnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.split(' ').nth(1)?.parse().ok()
}

/// `make dev` hands the functions what the README's configuration table
/// says is set locally (a caller of `OPTCAST_API_TOKENS` was refused 401:
/// optcast-local dropped it), and a SIGTERM to it, as a supervisor sends,
/// stops the stack with it (it ran in the foreground, where bash runs no
/// trap, and outlived the script).
#[test]
fn make_dev_takes_the_documented_settings_and_stops_on_sigterm() {
    use std::os::unix::process::CommandExt;

    let root = root();
    let local_bin = local_stack_binary();
    let port = free_port();
    let home = std::env::temp_dir().join(format!("optcast-devterm-home-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".into());
    // The token "readme-extra-caller", by its SHA-256, as the README's
    // table shows a caller.
    let tokens = r#"{"tokens":[{"name":"extra","token_sha256":"15cf8d2b6895b50ab403eb644c1ebf45766f2f18d4661e044cea50b89de3f544","pages":"*","scopes":["broadcasts:read"]}]}"#;
    let log = home.join("dev.log");
    let mut child = Command::new("bash")
        .args(["--noprofile", "--norc", "infra/dev.sh"])
        .current_dir(&root)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("PORT", port.to_string())
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("OPTCAST_PREFIX", format!("devterm{}", std::process::id() % 100_000))
        .env("OPTCAST_LOCAL_BIN", &local_bin)
        .env("OPTCAST_API_TOKENS", tokens)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(home.join("dev.err")).unwrap())
        .process_group(0)
        .spawn()
        .expect("bash runs");
    let _group = Group(child.id());
    let dev_log = || std::fs::read_to_string(home.join("dev.err")).unwrap_or_default();
    // Bounds only so a hung stack ends the test; not timing assertions.
    let deadline = Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(status) = get_status(port, "/v1/pages", "readme-extra-caller") {
            break status;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "make dev ended early:\n{}",
            dev_log()
        );
        assert!(Instant::now() < deadline, "the stack never answered:\n{}", dev_log());
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        status,
        200,
        "the OPTCAST_API_TOKENS caller was not taken:\n{}",
        dev_log()
    );

    // SIGTERM to the script alone, not its group.
    // SAFETY: kill only sends a signal; no memory is involved.
    unsafe {
        libc::kill(libc::pid_t::try_from(child.id()).unwrap(), libc::SIGTERM);
    }
    let exit = exit_within(&mut child, Duration::from_secs(120))
        .unwrap_or_else(|| panic!("make dev did not stop on SIGTERM:\n{}", dev_log()));
    assert!(exit.success(), "make dev ended {exit} on SIGTERM:\n{}", dev_log());
    assert!(
        dev_log().contains("stopping"),
        "the stack did not stop cleanly:\n{}",
        dev_log()
    );
    assert_eq!(get_status(port, "/v1/pages", "x"), None, "the stack outlived make dev");
    let _ = std::fs::remove_dir_all(&home);
}

/// Every `make dev` started at once from one checkout keeps the one admin
/// token `.local/admin-token` holds (the README test runs two): each made
/// a token of its own when it found none there, the last written won, and
/// the walkthrough's `make dev` ran with a token other than the one the
/// walkthrough read from the file, waiting for ever on 401s. Three rounds
/// of 24 at once: with the old check-then-write nearly every round ended
/// with several tokens.
#[test]
fn make_devs_started_at_once_keep_one_admin_token() {
    use std::os::unix::fs::PermissionsExt;

    let script = root().join("infra/admin-token.sh");
    let dir = std::env::temp_dir().join(format!("optcast-admin-token-{}", std::process::id()));
    for round in 0..3 {
        let _ = std::fs::remove_dir_all(&dir);
        let file = dir.join(".local/admin-token");
        let runs: Vec<_> = (0..24)
            .map(|_| {
                Command::new("bash")
                    .arg(&script)
                    .arg(&file)
                    .env_remove("OPTCAST_ADMIN_TOKEN")
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("bash runs")
            })
            .collect();
        let printed: Vec<String> = runs
            .into_iter()
            .map(|run| {
                let out = run.wait_with_output().unwrap();
                assert!(out.status.success(), "admin-token.sh failed in round {round}");
                String::from_utf8(out.stdout).unwrap().trim().to_string()
            })
            .collect();
        let kept = std::fs::read_to_string(&file).unwrap().trim().to_string();
        assert!(
            kept.len() == 48 && kept.bytes().all(|b| b.is_ascii_hexdigit()),
            "a 24-byte random token in hex is kept"
        );
        assert!(
            printed.iter().all(|p| *p == kept),
            "round {round}: the runs printed {} tokens",
            printed.iter().collect::<std::collections::HashSet<_>>().len()
        );
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the token file is the owner's alone");
        assert_eq!(
            std::fs::read_dir(file.parent().unwrap()).unwrap().count(),
            1,
            "no run left a file of its own behind"
        );
    }
    // A token given is the one in force, and is kept for the next run.
    let file = dir.join(".local/admin-token");
    let given = Command::new("bash")
        .arg(&script)
        .arg(&file)
        .env("OPTCAST_ADMIN_TOKEN", "given-token")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&given.stdout).trim(), "given-token");
    let next = Command::new("bash")
        .arg(&script)
        .arg(&file)
        .env_remove("OPTCAST_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&next.stdout).trim(), "given-token");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every `send_at` the walkthrough gives lies decades ahead: the API
/// refuses one in the past (`invalid_send_at`), so a date a few months
/// ahead ("2027-06-01", as it was) would have failed the walkthrough, and
/// CI, the day it passed.
#[test]
fn the_walkthrough_schedules_nothing_that_will_soon_be_past() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let script = walkthrough(&readme).concat();
    let this_year = 1970
        + SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            / 31_556_952;
    let years: Vec<u64> = script
        .match_indices(r#""send_at":""#)
        .map(|(at, key)| script[at + key.len()..at + key.len() + 4].parse().unwrap())
        .collect();
    assert!(!years.is_empty(), "the walkthrough schedules a broadcast");
    for year in years {
        assert!(
            year >= this_year + 50,
            "a send_at in {year} is less than 50 years ahead"
        );
    }
}
