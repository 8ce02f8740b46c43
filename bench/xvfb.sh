# Start Xvfb on a free X display (no lock file, no socket) with screen size $1 (WxHxD);
# sets D and XPID, logs to $WORK/xvfb.log, and exits with the log when it does not start.
# The window must open there, not on a Wayland desktop the session may have.
start_xvfb() {
    D=97
    while [ -e "/tmp/.X$D-lock" ] || [ -e "/tmp/.X11-unix/X$D" ]; do D=$((D + 1)); done
    Xvfb ":$D" -screen 0 "$1" -nolisten tcp >"$WORK/xvfb.log" 2>&1 &
    XPID=$!
    for _ in $(seq 50); do
        [ -e "/tmp/.X11-unix/X$D" ] && break
        kill -0 "$XPID" 2>/dev/null || break
        sleep 0.2
    done
    if [ ! -e "/tmp/.X11-unix/X$D" ]; then
        echo "Xvfb :$D did not start:" >&2
        cat "$WORK/xvfb.log" >&2
        exit 1
    fi
    unset WAYLAND_DISPLAY WAYLAND_SOCKET
}
