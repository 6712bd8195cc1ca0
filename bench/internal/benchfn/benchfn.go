// Package benchfn is what the benchmarks' function binaries share
// (bench/coldstart/function: geminihook; bench/naive/function: the naive
// receiver): their cloud clients on the emulators, a loopback Secret
// Manager, and, for the load runs, a side port that reports the function's
// gRPC calls and CPU time and switches a publish fault on and off.
//
// The binaries read, besides the settings of the function itself:
//
//	GEMINIHOOK_BENCH_SECRETMANAGER  host:port of the loopback Secret Manager (StartSecretManager)
//	GEMINIHOOK_BENCH_STATS          host:port of the side port; set, the clients are counted
//
// Without GEMINIHOOK_BENCH_STATS the clients are built as NewFromEnv builds
// them (firestore.NewClientWithDatabase and pubsub.NewClient, which dial
// FIRESTORE_EMULATOR_HOST and PUBSUB_EMULATOR_HOST themselves): what a cold
// start measures. With it, both dial through internal/emulator.Dial with a
// call counter on the connection (Firestore's client gives no other way to
// intercept its calls), the same for every function compared.
package benchfn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"
	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"google.golang.org/api/option"
	"google.golang.org/grpc"

	"github.com/geminihook/geminihook/internal/emulator"
)

// Environment variables of the function binaries.
const (
	EnvSecretManager = "GEMINIHOOK_BENCH_SECRETMANAGER"
	EnvStats         = "GEMINIHOOK_BENCH_STATS"
)

// Clients are a function binary's cloud clients and, when counted, the
// counters and the publish gate on their connections.
type Clients struct {
	Firestore     *firestore.Client
	PubSub        *pubsub.Client
	SecretManager *secretmanager.Client // nil without EnvSecretManager

	FirestoreCalls, PubSubCalls *emulator.Counter     // nil when not counted
	Gate                        *emulator.PublishGate // nil when not counted
}

// Close closes every client.
func (c *Clients) Close() error {
	var errs []error
	if c.SecretManager != nil {
		errs = append(errs, c.SecretManager.Close())
	}
	if c.PubSub != nil {
		errs = append(errs, c.PubSub.Close())
	}
	if c.Firestore != nil {
		errs = append(errs, c.Firestore.Close())
	}
	return errors.Join(errs...)
}

// NewClients builds the clients of project (Firestore database db, ""
// for the default one) from getenv, as the package documentation says.
func NewClients(ctx context.Context, getenv func(string) string, project, db string) (*Clients, error) {
	c := &Clients{}
	fail := func(err error) (*Clients, error) { c.Close(); return nil, err }
	if db == "" {
		db = firestore.DefaultDatabaseID
	}
	if getenv(EnvStats) == "" {
		var err error
		if c.Firestore, err = firestore.NewClientWithDatabase(ctx, project, db); err != nil {
			return fail(fmt.Errorf("firestore client: %w", err))
		}
		if c.PubSub, err = pubsub.NewClient(ctx, project); err != nil {
			return fail(fmt.Errorf("pubsub client: %w", err))
		}
	} else {
		fsAddr, psAddr := getenv("FIRESTORE_EMULATOR_HOST"), getenv("PUBSUB_EMULATOR_HOST")
		if fsAddr == "" || psAddr == "" {
			return fail(errors.New("counted clients need FIRESTORE_EMULATOR_HOST and PUBSUB_EMULATOR_HOST"))
		}
		c.FirestoreCalls, c.PubSubCalls, c.Gate = &emulator.Counter{}, &emulator.Counter{}, &emulator.PublishGate{}
		fconn, err := emulator.Dial(fsAddr, c.FirestoreCalls)
		if err != nil {
			return fail(err)
		}
		if c.Firestore, err = firestore.NewClientWithDatabase(ctx, project, db, option.WithGRPCConn(fconn)); err != nil {
			fconn.Close()
			return fail(fmt.Errorf("firestore client: %w", err))
		}
		pconn, err := emulator.Dial(psAddr, c.PubSubCalls, grpc.WithChainUnaryInterceptor(c.Gate.UnaryInterceptor()))
		if err != nil {
			return fail(err)
		}
		if c.PubSub, err = pubsub.NewClient(ctx, project, option.WithGRPCConn(pconn)); err != nil {
			pconn.Close()
			return fail(fmt.Errorf("pubsub client: %w", err))
		}
	}
	if addr := getenv(EnvSecretManager); addr != "" {
		var err error
		if c.SecretManager, err = SecretManagerClient(ctx, addr); err != nil {
			return fail(fmt.Errorf("secret manager client: %w", err))
		}
	}
	return c, nil
}

// Stats is what the side port reports: the calls of the function's clients
// so far, per full gRPC method name, and the CPU time of its process.
type Stats struct {
	Firestore      map[string]int `json:"firestore"`
	PubSub         map[string]int `json:"pubsub"`
	FirestoreCalls int            `json:"firestore_calls"`
	PubSubCalls    int            `json:"pubsub_calls"`
	Publishes      int            `json:"publishes"`
	RefusedPublish int64          `json:"refused_publishes"`
	CPUSeconds     float64        `json:"cpu_seconds"`
}

// Snapshot returns the counts so far (zero without counters).
func (c *Clients) Snapshot() Stats {
	s := Stats{Firestore: map[string]int{}, PubSub: map[string]int{}}
	if c.FirestoreCalls != nil {
		s.Firestore = c.FirestoreCalls.Snapshot()
		s.FirestoreCalls = c.FirestoreCalls.Count("")
	}
	if c.PubSubCalls != nil {
		s.PubSub = c.PubSubCalls.Snapshot()
		s.PubSubCalls = c.PubSubCalls.Count("")
		s.Publishes = c.PubSubCalls.Count(emulator.PublishMethod)
	}
	if c.Gate != nil {
		s.RefusedPublish = c.Gate.Refused()
	}
	s.CPUSeconds = ProcessCPU().Seconds()
	return s
}

// ServeStats serves, on the loopback address addr, GET /stats (Stats as
// JSON) and POST /fault/publish?refuse=true|false (the gate), until the
// process ends. It returns the address it listens on.
func (c *Clients) ServeStats(addr string) (string, error) {
	if host, _, err := net.SplitHostPort(addr); err != nil || !isLoopback(host) {
		return "", fmt.Errorf("%s %q: want a loopback host:port", EnvStats, addr)
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(c.Snapshot())
	})
	mux.HandleFunc("POST /fault/publish", func(w http.ResponseWriter, r *http.Request) {
		if c.Gate == nil {
			http.Error(w, "no gate: clients not counted", http.StatusConflict)
			return
		}
		switch r.URL.Query().Get("refuse") {
		case "true":
			c.Gate.Set(true)
		case "false":
			c.Gate.Set(false)
		default:
			http.Error(w, "refuse=true or refuse=false", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	go (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(lis) //nolint:errcheck
	return lis.Addr().String(), nil
}

// Setup is the start of a function binary's lazy build: the clients from
// os.Getenv, and the side port when EnvStats is set.
func Setup(ctx context.Context, project, db string) (*Clients, error) {
	c, err := NewClients(ctx, os.Getenv, project, db)
	if err != nil {
		return nil, err
	}
	if addr := os.Getenv(EnvStats); addr != "" {
		if _, err := c.ServeStats(addr); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}
