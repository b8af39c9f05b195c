//! A pseudo-terminal for driving the interactive editor: keys in, screen text out.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Pty {
    master: std::fs::File,
    out: Arc<Mutex<Vec<u8>>>,
    pub child: Child,
    /// The terminal's size: rows, columns.
    pub size: (u16, u16),
}

pub const DOWN: &str = "\x1b[B";
pub const UP: &str = "\x1b[A";
pub const ENTER: &str = "\r";
pub const ESC: &str = "\x1b";
pub const CTRL_C: &str = "\x03";

impl Pty {
    /// Start `cmd` with a new session whose controlling terminal is the pty (160x40).
    pub fn spawn(cmd: Command) -> Pty {
        Pty::spawn_sized(cmd, 40, 160)
    }

    /// Start `cmd` on a pty of `rows` x `cols`.
    pub fn spawn_sized(mut cmd: Command, rows: u16, cols: u16) -> Pty {
        let (mut master, mut slave) = (0, 0);
        let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: openpty fills two descriptors we then own.
        let rc = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &ws) };
        assert_eq!(rc, 0, "openpty");
        let slave_fd = unsafe { OwnedFd::from_raw_fd(slave) };
        let io = |fd: &OwnedFd| Stdio::from(fd.try_clone().unwrap());
        cmd.stdin(io(&slave_fd)).stdout(io(&slave_fd)).stderr(io(&slave_fd));
        // SAFETY: setsid and TIOCSCTTY are async-signal-safe; they make the pty the
        // child's controlling terminal, which dialoguer reads keys from.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn in a pty");
        drop(slave_fd);
        let master = unsafe { std::fs::File::from_raw_fd(master) };
        let out = Arc::new(Mutex::new(Vec::new()));
        let (mut reader, sink) = (master.try_clone().unwrap(), out.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Pty { master, out, child, size: (rows, cols) }
    }

    pub fn send(&mut self, keys: &str) {
        self.master.write_all(keys.as_bytes()).unwrap();
        self.master.flush().unwrap();
        std::thread::sleep(Duration::from_millis(120));
    }

    /// Everything shown so far, escape sequences removed.
    pub fn screen(&self) -> String {
        let raw = String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned();
        let mut s = String::new();
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    while let Some(&n) = chars.peek() {
                        chars.next();
                        if n.is_ascii_alphabetic() || n == '~' {
                            break;
                        }
                    }
                }
                continue;
            }
            s.push(c);
        }
        s
    }

    /// The terminal as a real one would show it now (a terminal emulator fed everything
    /// written so far): what is on screen, row by row, and which rows wrapped.
    pub fn terminal(&self) -> vt100::Parser {
        let mut p = vt100::Parser::new(self.size.0, self.size.1, 0);
        p.process(&self.out.lock().unwrap());
        p
    }

    /// The rows on screen now, trailing spaces trimmed.
    pub fn rows(&self) -> Vec<String> {
        let p = self.terminal();
        p.screen().rows(0, self.size.1).map(|r| r.trim_end().to_string()).collect()
    }

    /// Wait until the screen as a terminal shows it (not the history) contains `text`.
    pub fn expect_on_screen(&self, text: &str) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if self.rows().iter().any(|r| r.contains(text)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the screen does not show {text:?}; it shows:\n{}", self.rows().join("\n"));
    }

    /// Raw output, escape sequences included.
    pub fn raw(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    /// Wait until the screen shows `text` (after `from` bytes of it), or fail.
    pub fn expect(&self, text: &str) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if self.screen().contains(text) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the screen never showed {text:?}; it shows:\n{}", self.screen());
    }

    /// The exit code, waiting at most 20 s.
    pub fn wait(&mut self) -> i32 {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code().unwrap_or(-1);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("the program did not exit; screen:\n{}", self.screen());
    }
}
