//! Reload actions: a command, a signal to a pid file, or haproxy's runtime API.

use std::io::{Read, Write};
use std::time::Duration;

use crate::config::deploy::Reload;

/// Runs one reload action. `combined_pem` is what haproxy's runtime API receives.
pub async fn run(reload: &Reload, combined_pem: &str) -> Result<String, String> {
    match reload {
        Reload::Command { argv, timeout } => command(argv, *timeout).await,
        Reload::Signal { pid_file, signal } => {
            let text = std::fs::read_to_string(pid_file)
                .map_err(|e| format!("cannot read pid file {}: {e}", pid_file.display()))?;
            let pid: i32 = text
                .trim()
                .parse()
                .map_err(|_| format!("{} does not hold a pid", pid_file.display()))?;
            // SAFETY: kill(2) with a pid read from the configured pid file and a validated
            // signal number has no memory-safety preconditions.
            let rc = unsafe { libc::kill(pid, *signal) };
            if rc == 0 {
                Ok(format!("sent signal {signal} to pid {pid}"))
            } else {
                Err(format!(
                    "cannot signal pid {pid}: {}",
                    std::io::Error::last_os_error()
                ))
            }
        }
        Reload::HaproxyRuntime { socket, cert_path } => {
            let socket = socket.clone();
            let cert_path = cert_path.clone();
            let pem = combined_pem.to_string();
            tokio::task::spawn_blocking(move || haproxy(&socket, &cert_path, &pem))
                .await
                .map_err(|e| e.to_string())?
        }
    }
}

async fn command(argv: &[String], timeout: Duration) -> Result<String, String> {
    let shown = argv.join(" ");
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(timeout, cmd.output())
        .await
        .map_err(|_| {
            format!(
                "`{shown}` timed out after {}",
                humantime::format_duration(timeout)
            )
        })?
        .map_err(|e| format!("cannot run `{shown}`: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        Ok(text)
    } else {
        Err(format!(
            "`{shown}` failed ({}): {}",
            output.status,
            text.trim()
        ))
    }
}

/// One haproxy runtime API command on its own connection; returns the answer.
fn haproxy_command(socket: &std::path::Path, command: &str) -> Result<String, String> {
    let mut stream = std::os::unix::net::UnixStream::connect(socket).map_err(|e| {
        format!(
            "cannot connect to haproxy's socket {}: {e}",
            socket.display()
        )
    })?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    stream
        .write_all(command.as_bytes())
        .map_err(|e| format!("haproxy socket: {e}"))?;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| format!("haproxy socket: {e}"))?;
    Ok(answer)
}

/// `set ssl cert` then `commit ssl cert`: haproxy swaps the certificate in memory, with no
/// reload and no dropped connection.
fn haproxy(socket: &std::path::Path, cert_path: &str, pem: &str) -> Result<String, String> {
    let set = haproxy_command(
        socket,
        &format!("set ssl cert {cert_path} <<\n{}\n\n", pem.trim_end()),
    )?;
    if !set.contains("Transaction created") && !set.contains("Transaction updated") {
        let _ = haproxy_command(socket, &format!("abort ssl cert {cert_path}\n"));
        return Err(format!(
            "haproxy refused `set ssl cert {cert_path}`: {}",
            set.trim()
        ));
    }
    let commit = haproxy_command(socket, &format!("commit ssl cert {cert_path}\n"))?;
    if commit.contains("Success") {
        Ok(format!("{}\n{}", set.trim(), commit.trim()))
    } else {
        Err(format!(
            "haproxy refused `commit ssl cert {cert_path}`: {}",
            commit.trim()
        ))
    }
}
