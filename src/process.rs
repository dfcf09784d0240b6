//! Running a user's program bounded in time and output. The `exec` alert channel hands each
//! event to a program; a program that hangs, forks a child that keeps its pipes open, or
//! prints without end must not hang certctl or fill its memory. The program runs in its own
//! process group, and on timeout the whole group is killed.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// Bytes of stdout and of stderr kept (the rest is read and dropped).
const KEEP: usize = 16 * 1024;
/// After the program exits, how long its output pipes may stay open (held by a child it left
/// behind) before certctl stops reading them.
const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// What a program that ran to its end left.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    /// The first [`KEEP`] bytes of stdout, lossy UTF-8.
    pub stdout: String,
    /// The first [`KEEP`] bytes of stderr, lossy UTF-8.
    pub stderr: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("no program to run (the command is empty)")]
    Empty,
    #[error("cannot run `{program}`: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("`{program}` did not finish within {timeout}: killed")]
    Timeout { program: String, timeout: String },
    #[error("waiting for `{program}`: {source}")]
    Wait {
        program: String,
        source: std::io::Error,
    },
}

/// A program to run: argv (no shell), what it reads on stdin, and its whole environment
/// (nothing is inherited that is not listed).
#[derive(Debug, Clone)]
pub struct Program<'a> {
    pub argv: &'a [String],
    pub stdin: &'a [u8],
    pub env: &'a [(String, String)],
    pub timeout: Duration,
}

/// Runs `program` to its end, or kills its process group after `timeout`.
pub async fn run(program: &Program<'_>) -> Result<Finished, ProcessError> {
    let Some((first, args)) = program.argv.split_first() else {
        return Err(ProcessError::Empty);
    };
    let mut command = tokio::process::Command::new(first);
    command
        .args(args)
        .env_clear()
        .envs(program.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|source| ProcessError::Spawn {
        program: first.clone(),
        source,
    })?;
    let group = child.id().and_then(|id| i32::try_from(id).ok());
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let input = program.stdin;
    let work = async {
        let feed = async {
            if let Some(mut pipe) = stdin {
                // A program that does not read its input closes the pipe: not an error.
                let _ = pipe.write_all(input).await;
            }
        };
        let waiting = async { tokio::join!(feed, child.wait()).1 };
        let (mut stdout_kept, mut stderr_kept) = (Vec::new(), Vec::new());
        let status = {
            let out = read_into(stdout, &mut stdout_kept);
            let err = read_into(stderr, &mut stderr_kept);
            tokio::pin!(waiting, out, err);
            let (mut out_done, mut err_done) = (false, false);
            // Read both pipes while waiting, so a program that prints more than a pipe holds
            // is not blocked.
            let status = loop {
                tokio::select! {
                    status = &mut waiting => break status,
                    () = &mut out, if !out_done => out_done = true,
                    () = &mut err, if !err_done => err_done = true,
                }
            };
            // The program has exited; a child it left may hold the pipes open: read what is
            // there, briefly.
            let _ = tokio::time::timeout(DRAIN_GRACE, async {
                if !out_done {
                    (&mut out).await;
                }
                if !err_done {
                    (&mut err).await;
                }
            })
            .await;
            status
        };
        (status, lossy(&stdout_kept), lossy(&stderr_kept))
    };
    let result = tokio::time::timeout(program.timeout, work).await;
    match result {
        Ok((status, stdout, stderr)) => Ok(Finished {
            status: status.map_err(|source| ProcessError::Wait {
                program: first.clone(),
                source,
            })?,
            stdout,
            stderr,
        }),
        Err(_) => {
            if let Some(group) = group {
                // SAFETY: kill(2) on the process group certctl created for this child (its
                // pid is the group id); no memory is involved.
                unsafe {
                    libc::kill(-group, libc::SIGKILL);
                }
            }
            let _ = child.wait().await;
            Err(ProcessError::Timeout {
                program: first.clone(),
                timeout: humantime::format_duration(program.timeout).to_string(),
            })
        }
    }
}

/// Reads a pipe to its end, keeping its first [`KEEP`] bytes in `kept` (which holds what was
/// read even when the read is abandoned).
async fn read_into(pipe: Option<impl AsyncRead + Unpin>, kept: &mut Vec<u8>) {
    let Some(mut pipe) = pipe else {
        return;
    };
    let mut buf = [0u8; 8192];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = KEEP.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The variables a program may need from certctl's own environment (never secrets: the
/// environment is otherwise cleared).
pub fn base_env() -> Vec<(String, String)> {
    let mut env = vec![(
        "PATH".to_string(),
        std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into()),
    )];
    for name in ["HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"] {
        if let Ok(value) = std::env::var(name) {
            env.push((name.to_string(), value));
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into(), script.into()]
    }

    async fn go(script: &str, stdin: &[u8], timeout: Duration) -> Result<Finished, ProcessError> {
        let argv = sh(script);
        let mut env = base_env();
        env.push(("ONLY".to_string(), "this".to_string()));
        run(&Program {
            argv: &argv,
            stdin,
            env: &env,
            timeout,
        })
        .await
    }

    #[tokio::test]
    async fn input_output_environment_and_exit_status() {
        let done = go(
            "read line; echo \"got $line $ONLY ${CARGO_MANIFEST_DIR:-unset}\"; echo oops >&2; exit 3",
            b"hello\n",
            Duration::from_secs(5),
        )
        .await
        .expect("runs");
        assert_eq!(done.status.code(), Some(3));
        // certctl's own environment (cargo sets CARGO_MANIFEST_DIR for tests) is not passed on.
        assert_eq!(done.stdout, "got hello this unset\n");
        assert_eq!(done.stderr, "oops\n");
    }

    #[tokio::test]
    async fn a_hanging_program_and_its_children_are_killed() {
        let marker = tempfile::NamedTempFile::new().expect("tmp");
        let path = marker.path().display().to_string();
        let started = std::time::Instant::now();
        let err = go(
            &format!("(sleep 3; echo late > {path}) & sleep 30"),
            b"",
            Duration::from_millis(300),
        )
        .await
        .expect_err("times out");
        assert!(
            err.to_string().contains("did not finish within 300ms"),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_secs(3));
        std::thread::sleep(Duration::from_millis(3500));
        let left = std::fs::read_to_string(marker.path()).expect("read");
        assert!(
            left.is_empty(),
            "the background child was killed with its group"
        );
    }

    #[tokio::test]
    async fn output_is_bounded_and_a_left_child_does_not_hold_certctl() {
        let done = go(
            "head -c 1000000 /dev/zero | tr '\\0' x; sleep 5 &",
            b"",
            Duration::from_secs(10),
        )
        .await
        .expect("runs");
        assert!(done.status.success());
        assert_eq!(done.stdout.len(), KEEP);
        let missing = go_argv(&["/nonexistent/program".into()]).await;
        assert!(
            missing
                .expect_err("no such program")
                .to_string()
                .starts_with("cannot run `/nonexistent/program`: "),
        );
        assert!(matches!(go_argv(&[]).await, Err(ProcessError::Empty)));
    }

    async fn go_argv(argv: &[String]) -> Result<Finished, ProcessError> {
        run(&Program {
            argv,
            stdin: b"",
            env: &[],
            timeout: Duration::from_secs(5),
        })
        .await
    }
}
