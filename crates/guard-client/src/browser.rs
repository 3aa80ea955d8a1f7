//! Whether a browser can be started here, and starting it.

/// Whether a browser can be started: not `no_browser`, and `$BROWSER` is
/// set, a display is (Linux and the BSDs), or the system always has one
/// (macOS, Windows).
pub fn can_open(no_browser: bool) -> bool {
    let display = ["DISPLAY", "WAYLAND_DISPLAY", "BROWSER"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()));
    !no_browser && (display || cfg!(any(target_os = "macos", target_os = "windows")))
}

/// Opens `url` in the user's browser; best effort (the caller prints the
/// URL too).
pub fn open(url: &str) {
    let _ = webbrowser::open(url);
}
