package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"cloud.google.com/go/pubsub/v2/pstest"

	"github.com/geminihook/geminihook/bench/internal/benchfn"
)

// envPubSubChild makes the test binary a pstest server (TestMain): the
// Pub/Sub server of the pubsubRemote fixtures, in a process of its own.
const envPubSubChild = "GEMINIHOOK_BENCH_PSTEST_CHILD"

// envPubSubCPU, set to a CPU number, pins that process to that CPU (Linux):
// with the benchmark process pinned to another one (taskset), Pub/Sub's
// work no longer takes the function's CPU, as in production.
const envPubSubCPU = "GEMINIHOOK_BENCH_PSTEST_CPU"

func TestMain(m *testing.M) {
	if os.Getenv(envPubSubChild) == "1" {
		if c := os.Getenv(envPubSubCPU); c != "" {
			cpu, err := strconv.Atoi(c)
			if err == nil {
				err = pinToCPU(cpu)
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "%s=%s: %v\n", envPubSubCPU, c, err)
				os.Exit(2)
			}
		}
		os.Exit(servePubSubChild(os.Stdin, os.Stdout))
	}
	os.Exit(m.Run())
}

// servePubSubChild runs a pstest server on 127.0.0.1, writes its address
// on a line to out, then answers the lines of in: "count" with the number
// of messages published, "cpu" with the CPU nanoseconds of this process.
// It returns when in ends.
func servePubSubChild(in io.Reader, out io.Writer) int {
	srv := pstest.NewServerWithAddress("127.0.0.1:0")
	defer srv.Close()
	fmt.Fprintln(out, srv.Addr)
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		switch sc.Text() {
		case "count":
			fmt.Fprintln(out, len(srv.Messages()))
		case "cpu":
			fmt.Fprintln(out, benchfn.ProcessCPU().Nanoseconds())
		default:
			fmt.Fprintln(out, -1)
		}
	}
	return 0
}

// remotePubSub is a pstest server in a child process (this test binary
// with envPubSubChild set), stopped when the test ends.
type remotePubSub struct {
	addr string
	mu   sync.Mutex
	in   io.WriteCloser
	out  *bufio.Reader
}

func startRemotePubSub(tb testing.TB) *remotePubSub {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), envPubSubChild+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		in.Close() // the child returns when its input ends
		cmd.Wait()
	})
	r := &remotePubSub{in: in, out: bufio.NewReader(outPipe)}
	line, err := r.out.ReadString('\n')
	if err != nil {
		tb.Fatalf("pstest child: %v", err)
	}
	r.addr = strings.TrimSpace(line)
	return r
}

// ask sends a question to the child and returns its answer (-1 on error).
func (r *remotePubSub) ask(q string) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := io.WriteString(r.in, q+"\n"); err != nil {
		return -1
	}
	line, err := r.out.ReadString('\n')
	if err != nil {
		return -1
	}
	n, err := strconv.ParseInt(strings.TrimSpace(line), 10, 64)
	if err != nil {
		return -1
	}
	return n
}
