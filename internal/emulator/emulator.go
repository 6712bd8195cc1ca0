package emulator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
)

var (
	// ErrNotInstalled means the emulator, java or process groups are missing
	// on this machine; the message names every missing part and how to
	// install it (Debian packages, gcloud components).
	ErrNotInstalled = errors.New("emulator: not installed")
	// ErrNotReady means the emulator process exited or did not answer
	// GET / with 200 within the ready timeout; the message carries the end
	// of its log.
	ErrNotReady = errors.New("emulator: not ready")
	// ErrRunning is returned by Start when the emulator already runs.
	ErrRunning = errors.New("emulator: already running")
	// ErrUnsupported is returned for an operation the emulator does not have
	// (Wipe on Pub/Sub).
	ErrUnsupported = errors.New("emulator: not supported by this emulator")
)

// Host is the only interface the emulators listen on.
const Host = "127.0.0.1"

const (
	defaultReadyTimeout = 60 * time.Second
	stopTimeout         = 10 * time.Second
	readyPoll           = 50 * time.Millisecond
	startAttempts       = 3 // new free port after an early exit (port taken in between)
	logTailBytes        = 2048
)

// Options configures an emulator. The zero value is ready to use.
type Options struct {
	// SDKRoot is the Google Cloud SDK root; default SDKRoot().
	SDKRoot string
	// Port to listen on at 127.0.0.1; default a free port chosen at start.
	// Restart always reuses the port of the first start.
	Port int
	// LogDir receives the emulator's stdout and stderr (<name>.log); default
	// a new temporary directory that Close removes.
	LogDir string
	// ReadyTimeout bounds the wait for readiness on every start; default 60 s
	// (a JVM start takes 1-2 s alone, much longer on a loaded 2-core machine).
	ReadyTimeout time.Duration
}

// Emulator is one emulator process (Firestore or Pub/Sub) on a fixed
// loopback port, which can be stopped and started again on that port. Its
// methods are safe for concurrent use.
type Emulator struct {
	kind         kind
	root         string
	port         int
	logDir       string
	ownLogDir    bool
	readyTimeout time.Duration

	mu     sync.Mutex
	proc   *process // nil when stopped
	direct bool     // java is the direct child
}

// process is one started child and the goroutine that reaps it.
type process struct {
	pid  int
	done chan struct{} // closed when the child has been reaped
}

// StartFirestore starts the Firestore emulator and waits until it answers.
// Errors wrap ErrNotInstalled (emulator or java missing) or ErrNotReady
// (exited early or not ready within Options.ReadyTimeout or ctx).
func StartFirestore(ctx context.Context, o Options) (*Emulator, error) {
	return start(ctx, firestoreKind, o)
}

// StartPubSub starts the Pub/Sub emulator and waits until it answers.
// Errors are those of StartFirestore.
func StartPubSub(ctx context.Context, o Options) (*Emulator, error) {
	return start(ctx, pubsubKind, o)
}

func start(ctx context.Context, k kind, o Options) (*Emulator, error) {
	if err := platformCheck(); err != nil {
		return nil, err
	}
	e := &Emulator{kind: k, root: o.SDKRoot, port: o.Port, logDir: o.LogDir, readyTimeout: o.ReadyTimeout}
	if e.root == "" {
		e.root = SDKRoot()
	}
	if e.readyTimeout <= 0 {
		e.readyTimeout = defaultReadyTimeout
	}
	// Fail on a missing installation before creating anything.
	if _, _, err := k.command(e.root, Host, 1); err != nil {
		return nil, err
	}
	if e.logDir == "" {
		dir, err := os.MkdirTemp("", "geminihook-"+k.name+"-emulator-")
		if err != nil {
			return nil, fmt.Errorf("emulator: log directory: %w", err)
		}
		e.logDir, e.ownLogDir = dir, true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var err error
	for attempt := 0; attempt < startAttempts; attempt++ {
		if o.Port == 0 {
			if e.port, err = freePort(); err != nil {
				break
			}
		}
		var exited bool
		exited, err = e.startLocked(ctx)
		if err == nil {
			return e, nil
		}
		if !exited || o.Port != 0 || ctx.Err() != nil {
			break
		}
	}
	if e.ownLogDir {
		err = fmt.Errorf("%w (log %s kept)", err, e.LogPath())
	}
	return nil, err
}

// freePort asks the kernel for a loopback port that is free right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(Host, "0"))
	if err != nil {
		return 0, fmt.Errorf("emulator: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Name is "firestore" or "pubsub".
func (e *Emulator) Name() string { return e.kind.name }

// Addr is the emulator's host:port, the value for EnvVar.
func (e *Emulator) Addr() string { return net.JoinHostPort(Host, strconv.Itoa(e.port)) }

// Port is the loopback port, the same across restarts.
func (e *Emulator) Port() int { return e.port }

// EnvVar is the variable the Google clients read to find this emulator
// (FIRESTORE_EMULATOR_HOST or PUBSUB_EMULATOR_HOST). Prefer ClientOptions,
// which does not touch process-wide state.
func (e *Emulator) EnvVar() string { return e.kind.envVar }

// LogPath is the file that receives the emulator's output across restarts.
func (e *Emulator) LogPath() string { return filepath.Join(e.logDir, e.kind.name+".log") }

// PID is the process id of the emulator's process group leader (the JVM
// itself unless the Firestore launcher script could not be parsed), or 0
// when stopped.
func (e *Emulator) PID() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.proc == nil {
		return 0
	}
	return e.proc.pid
}

// Direct reports whether the JVM is the direct child of this process, so
// that Pdeathsig kills it when the test binary dies.
func (e *Emulator) Direct() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.direct
}

// Running reports whether the emulator process is alive (it may have
// crashed since it was started).
func (e *Emulator) Running() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.proc == nil {
		return false
	}
	select {
	case <-e.proc.done:
		return false
	default:
		return true
	}
}

// Start starts a stopped emulator on its port and waits until it answers.
// It returns ErrRunning when it runs, else the errors of StartFirestore.
// The data of an earlier run is gone.
func (e *Emulator) Start(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.proc != nil {
		select {
		case <-e.proc.done: // crashed: start again
			e.proc = nil
		default:
			return ErrRunning
		}
	}
	_, err := e.startLocked(ctx)
	return err
}

// Stop kills the emulator's process group and waits until the process is
// reaped and the port is closed. Stopping a stopped emulator does nothing.
// Errors: the kill failed or the process survived 10 s.
func (e *Emulator) Stop() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stopLocked()
}

// Restart is Stop then Start on the same port; all data is lost.
func (e *Emulator) Restart(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.stopLocked(); err != nil {
		return err
	}
	_, err := e.startLocked(ctx)
	return err
}

// Close stops the emulator and removes its log directory when the emulator
// created it (Options.LogDir empty).
func (e *Emulator) Close() error {
	err := e.Stop()
	if e.ownLogDir {
		err = errors.Join(err, os.RemoveAll(e.logDir))
	}
	return err
}

// startLocked starts the process and waits for readiness. exited reports
// that the process died before it was ready (for example: port taken).
func (e *Emulator) startLocked(ctx context.Context) (exited bool, err error) {
	cmd, direct, err := e.kind.command(e.root, Host, e.port)
	if err != nil {
		return false, err
	}
	logf, err := os.OpenFile(e.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return false, fmt.Errorf("emulator: log file: %w", err)
	}
	fmt.Fprintf(logf, "=== %s geminihook emulator start: %s\n", time.Now().Format(time.RFC3339Nano), cmd)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	p, err := startProcess(cmd)
	logf.Close() // the child holds its own descriptor
	if err != nil {
		return false, fmt.Errorf("%w: %s emulator: %w", ErrNotReady, e.kind.name, err)
	}
	e.proc, e.direct = p, direct
	exited, err = e.waitReady(ctx, p)
	if err != nil {
		_ = e.stopLocked()
		return exited, fmt.Errorf("%w: %s emulator on %s: %w; log tail:\n%s", ErrNotReady, e.kind.name, e.Addr(), err, e.logTail())
	}
	return false, nil
}

// startProcess starts cmd from a goroutine locked to its OS thread, which
// stays locked until the child is reaped: Linux delivers Pdeathsig when the
// thread that forked the child exits (prctl(2)), and Go may end threads of
// goroutines that exit while locked.
func startProcess(cmd *exec.Cmd) (*process, error) {
	p := &process{done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		p.pid = cmd.Process.Pid
		started <- nil
		_ = cmd.Wait() // killed by design; the log says why it ended otherwise
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

func (e *Emulator) waitReady(ctx context.Context, p *process) (exited bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, e.readyTimeout)
	defer cancel()
	hc := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: time.Second}
	tick := time.NewTicker(readyPoll)
	defer tick.Stop()
	u := "http://" + e.Addr() + "/"
	for {
		select {
		case <-p.done:
			return true, errors.New("process exited")
		case <-ctx.Done():
			return false, fmt.Errorf("no answer to GET /: %w", ctx.Err())
		case <-tick.C:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return false, err
		}
		if resp, err := hc.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<10))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return false, nil
			}
		}
	}
}

func (e *Emulator) stopLocked() error {
	p := e.proc
	if p == nil {
		return nil
	}
	e.proc = nil
	if err := killGroup(p.pid); err != nil {
		return fmt.Errorf("emulator: kill %s group %d: %w", e.kind.name, p.pid, err)
	}
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		return fmt.Errorf("emulator: %s pid %d still running %v after SIGKILL", e.kind.name, p.pid, stopTimeout)
	}
	if e.direct {
		return nil // the reaped JVM held the socket; the kernel closed it
	}
	// In the script fallback the JVM is a grandchild that nobody here reaps:
	// wait until its listening socket is gone so that a restart can bind.
	deadline := time.Now().Add(stopTimeout)
	for {
		c, err := net.DialTimeout("tcp", e.Addr(), 100*time.Millisecond)
		if err != nil {
			return nil
		}
		c.Close()
		if time.Now().After(deadline) {
			return fmt.Errorf("emulator: %s port %d still open %v after SIGKILL", e.kind.name, e.port, stopTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *Emulator) logTail() string {
	b, err := os.ReadFile(e.LogPath())
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if len(b) > logTailBytes {
		b = b[len(b)-logTailBytes:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// Wipe deletes every document of projectID's default database (Firestore
// only; ErrUnsupported for Pub/Sub). Errors: the request failed or the
// emulator did not answer 200.
func (e *Emulator) Wipe(ctx context.Context, projectID string) error {
	if e.kind.name != firestoreKind.name {
		return fmt.Errorf("%w: Wipe on %s", ErrUnsupported, e.kind.name)
	}
	u := "http://" + e.Addr() + "/emulator/v1/projects/" + url.PathEscape(projectID) + "/databases/(default)/documents"
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u, nil)
	if err != nil {
		return fmt.Errorf("emulator: wipe: %w", err)
	}
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
	if err != nil {
		return fmt.Errorf("emulator: wipe: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("emulator: wipe %s: %s: %s", projectID, resp.Status, b)
	}
	return nil
}

// ownerCreds adds the header that firestore.NewClient sends in emulator mode:
// the Firestore emulator treats "Bearer owner" as an admin that bypasses
// security rules. The Pub/Sub emulator ignores it.
type ownerCreds struct{}

func (ownerCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer owner"}, nil
}

func (ownerCreds) RequireTransportSecurity() bool { return false }

// Dial returns a lazily connecting plaintext gRPC connection to addr
// (host:port) set up the way the Google clients talk to an emulator:
// no TLS, the "Bearer owner" admin header, no message size limits. It
// reconnects with a short backoff (50 ms doubling to 1 s) so that clients
// recover quickly after an emulator restart. c, when not nil, counts every
// call; opts come last. Errors are those of grpc.NewClient (malformed
// address or options); a dead port fails on the first call, not here.
func Dial(addr string, c *Counter, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	do := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(ownerCreds{}),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(math.MaxInt32),
			grpc.MaxCallSendMsgSize(math.MaxInt32),
		),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 2, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: time.Second,
		}),
	}
	if c != nil {
		do = append(do, c.DialOptions()...)
	}
	conn, err := grpc.NewClient("passthrough:///"+addr, append(do, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("emulator: dial %s: %w", addr, err)
	}
	return conn, nil
}

// Dial is the package Dial for this emulator's address.
func (e *Emulator) Dial(c *Counter, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	return Dial(e.Addr(), c, opts...)
}
