//! CPU accounting for the local benchmarks: the emulator's share of the work
//! versus optcast's own process (Linux /proc).

/// utime + stime of a process, in seconds.
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
    Some((fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?) / 100.0)
}

/// The running moto server, if any: the most recently started one, since an
/// emulator stopped just before may still be exiting.
pub fn emulator_pid() -> Option<String> {
    latest_moto(|_| true)
}

/// As [`emulator_pid`], among the moto servers started with `port` (`-p`,
/// `--port`, `--port=`): another emulator, such as the test suite's, may be
/// running too.
pub fn emulator_pid_on(port: &str) -> Option<String> {
    latest_moto(|args| {
        args.windows(2)
            .any(|w| (w[0] == "-p" || w[0] == "--port") && w[1] == port)
            || args.iter().any(|a| *a == format!("--port={port}"))
    })
}

/// The most recently started moto server whose arguments `accept` takes.
fn latest_moto(accept: impl Fn(&[String]) -> bool) -> Option<String> {
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let pid = e.file_name().to_string_lossy().to_string();
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let args: Vec<String> = String::from_utf8_lossy(&cmd).split('\0').map(str::to_string).collect();
            // A program argument named moto_server, not any command line that
            // merely mentions it (such as the shell that started it).
            let is_moto = args.iter().any(|arg| arg.rsplit('/').next() == Some("moto_server"));
            let started = start_ticks(&pid)?;
            (is_moto && accept(&args)).then_some((started, pid))
        })
        .max()
        .map(|(_, pid)| pid)
}

/// When a process started, in clock ticks since boot.
fn start_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.split_whitespace().nth(19)?.parse().ok()
}

/// CPU used by the emulator and by this process since `start`.
pub struct CpuMeter {
    emulator: Option<String>,
    at: (Option<f64>, Option<f64>),
}

impl CpuMeter {
    pub fn start() -> Self {
        let emulator = emulator_pid();
        let at = (emulator.as_deref().and_then(cpu_seconds), cpu_seconds("self"));
        Self { emulator, at }
    }

    /// (emulator seconds, own seconds) since `start`.
    pub fn used(&self) -> (Option<f64>, Option<f64>) {
        let e = self.emulator.as_deref().and_then(cpu_seconds).zip(self.at.0);
        let o = cpu_seconds("self").zip(self.at.1);
        (e.map(|(a, b)| a - b), o.map(|(a, b)| a - b))
    }

    pub fn report(&self) -> String {
        match self.used() {
            (Some(e), Some(o)) => format!(
                "cpu: emulator {e:.1} s, optcast process {o:.1} s; emulator share {:.0}%",
                100.0 * e / (e + o)
            ),
            _ => "cpu: not measured (no /proc or no emulator process)".into(),
        }
    }
}
