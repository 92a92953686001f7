//! Headless Chromium for the dashboard's browser tests, driven over the DevTools protocol
//! through a pipe (`--remote-debugging-pipe`: JSON messages ended by NUL on file descriptors 3
//! and 4, the transport Puppeteer uses). The descriptors are two FIFOs a shell opens for
//! Chromium, so no WebSocket client, no unsafe code and no crate is needed. The browser is
//! Debian's `chromium` (or `CHROMIUM_PATH`); without it the test fails, saying so.
//!
//! Calls block: tests run them inside `tokio::task::block_in_place` (multi-threaded runtime).

use std::{
    fs::File,
    io::{Read, Write},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc::{self, Receiver},
    time::{Duration, Instant},
};

use base64::Engine;
use serde_json::{json, Value};

/// How long one protocol call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A headless Chromium with one page open.
pub struct Browser {
    child: Child,
    to_browser: File,
    messages: Receiver<Value>,
    next_id: u64,
    session: String,
    /// Console errors, uncaught exceptions and Content-Security-Policy reports seen so far.
    problems: Vec<String>,
    _profile: tempfile::TempDir,
}

/// The Chromium binary: `CHROMIUM_PATH`, else `chromium` on the PATH.
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("CHROMIUM_PATH") {
        return PathBuf::from(path);
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths).map(|dir| dir.join("chromium")).find(|candidate| candidate.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "the dashboard's browser tests need Chromium: `apt-get install chromium` (Debian's package; .ci/run \
             installs it), or point CHROMIUM_PATH at a Chromium binary"
        )
    })
}

impl Browser {
    /// Starts Chromium headless with a fresh profile and opens a blank page of `width`×`height`.
    pub fn launch(width: u32, height: u32) -> Browser {
        let binary = chromium();
        let profile = tempfile::Builder::new().prefix("signalcraft-chromium-").tempdir().expect("profile dir");
        let (to_path, from_path) = (profile.path().join("cdp-in"), profile.path().join("cdp-out"));
        for fifo in [&to_path, &from_path] {
            let made = Command::new("mkfifo").arg(fifo).status().expect("mkfifo runs");
            assert!(made.success(), "mkfifo {}", fifo.display());
        }
        let command = "exec \"$0\" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
             --disable-background-networking --disable-component-update --disable-sync \
             --disable-default-apps --disable-extensions --mute-audio --hide-scrollbars \
             --user-data-dir=\"$1\" --remote-debugging-pipe about:blank 3<\"$2\" 4>\"$3\"";
        let child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .arg(&binary)
            .arg(profile.path().join("profile"))
            .arg(&to_path)
            .arg(&from_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("starting {}: {error}", binary.display()));
        // The shell opens the FIFOs in this order; each open waits for the other end.
        let to_browser = File::options().write(true).open(&to_path).expect("the browser's input pipe opens");
        let from_browser = File::open(&from_path).expect("the browser's output pipe opens");
        let (sender, messages) = mpsc::channel();
        std::thread::spawn(move || read_messages(from_browser, sender));
        let mut browser = Browser {
            child,
            to_browser,
            messages,
            next_id: 0,
            session: String::new(),
            problems: Vec::new(),
            _profile: profile,
        };
        let target = browser.call(None, "Target.createTarget", json!({ "url": "about:blank" }));
        let target_id = target["targetId"].as_str().expect("a target id").to_string();
        let attached = browser.call(None, "Target.attachToTarget", json!({ "targetId": target_id, "flatten": true }));
        browser.session = attached["sessionId"].as_str().expect("a session id").to_string();
        for domain in ["Page.enable", "Runtime.enable", "Log.enable"] {
            browser.page(domain, json!({}));
        }
        browser.page(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        );
        browser
    }

    /// Calls `method` on the browser (`session` None) or a page's session; returns its result.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        let mut bytes = serde_json::to_vec(&message).expect("serializes");
        bytes.push(0);
        self.to_browser.write_all(&bytes).expect("writes to the browser");
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = self.messages.recv_timeout(left).unwrap_or_else(|_| panic!("no answer to {method}"));
            if message["id"] == json!(id) {
                if let Some(error) = message.get("error") {
                    panic!("{method} failed: {error}");
                }
                return message["result"].clone();
            }
            self.note_event(&message);
        }
    }

    fn page(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.call(Some(&session), method, params)
    }

    /// Keeps what a page reports as going wrong.
    fn note_event(&mut self, message: &Value) {
        let params = &message["params"];
        match message["method"].as_str() {
            Some("Runtime.exceptionThrown") => {
                self.problems.push(format!("exception: {}", params["exceptionDetails"]));
            }
            Some("Runtime.consoleAPICalled") if params["type"] == "error" => {
                self.problems.push(format!("console.error: {}", params["args"]));
            }
            Some("Log.entryAdded") if params["entry"]["level"] == "error" => {
                let entry = &params["entry"];
                // A stopped server's refused connections are what the stream-down test wants.
                if entry["source"] != "network" {
                    self.problems.push(format!("{}: {}", entry["source"], entry["text"]));
                }
            }
            _ => {}
        }
    }

    /// Loads `url` in the page.
    pub fn navigate(&mut self, url: &str) {
        self.page("Page.navigate", json!({ "url": url }));
    }

    /// The value of a JavaScript expression in the page (promises awaited).
    pub fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .page("Runtime.evaluate", json!({ "expression": expression, "awaitPromise": true, "returnByValue": true }));
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("evaluating `{expression}` threw: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// Polls `expression` until it is truthy (returning its value) or `timeout` passes (None).
    /// While it throws (the page is still loading), it counts as not yet.
    pub fn wait_for(&mut self, expression: &str, timeout: Duration) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        let guarded = format!("(() => {{ try {{ return ({expression}); }} catch {{ return null; }} }})()");
        loop {
            let value = self.eval(&guarded);
            let truthy = !matches!(value, Value::Null | Value::Bool(false)) && value != json!(0) && value != json!("");
            if truthy {
                return Some(value);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Emulates the system's colour scheme: `light` or `dark`.
    pub fn color_scheme(&mut self, scheme: &str) {
        self.page(
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme }] }),
        );
    }

    /// Saves a PNG of the whole page to `path`.
    pub fn screenshot(&mut self, path: &Path) {
        let layout = self.page("Page.getLayoutMetrics", json!({}));
        let (width, height) = (&layout["cssContentSize"]["width"], &layout["cssContentSize"]["height"]);
        let clip = json!({ "x": 0, "y": 0, "width": width, "height": height, "scale": 1 });
        let shot = self
            .page("Page.captureScreenshot", json!({ "format": "png", "clip": clip, "captureBeyondViewport": true }));
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("base64 PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, png).unwrap_or_else(|error| panic!("writing {}: {error}", path.display()));
    }

    /// What went wrong in the page so far (console errors, exceptions, policy violations),
    /// including events still queued.
    pub fn problems(&mut self) -> Vec<String> {
        while let Ok(message) = self.messages.try_recv() {
            self.note_event(&message);
        }
        self.problems.clone()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Splits the browser's output on NUL and forwards each JSON message, until the pipe closes.
fn read_messages(mut from_browser: File, sender: mpsc::Sender<Value>) {
    let (mut buffer, mut chunk) = (Vec::new(), vec![0u8; 64 * 1024]);
    loop {
        let read = match from_browser.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        buffer.extend_from_slice(&chunk[..read]);
        while let Some(end) = buffer.iter().position(|&byte| byte == 0) {
            let message: Vec<u8> = buffer.drain(..=end).collect();
            if let Ok(value) = serde_json::from_slice::<Value>(&message[..end]) {
                if sender.send(value).is_err() {
                    return;
                }
            }
        }
    }
}

/// Where a test's screenshots go: `$CARGO_TARGET_DIR/dashboard/` (or `target/dashboard/`).
pub fn screenshot_path(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("dashboard").join(name)
}
