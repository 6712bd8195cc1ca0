package loadtest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/geminihook/geminihook/internal/loadtest"
	"github.com/geminihook/geminihook/verify/verifytest"
)

// A load against a receiver that checks nothing and answers 200: without a
// Collector the report judges acknowledgements only. Against geminihook,
// subscribe first (Subscribe), Run, Collector.Wait, then
// NewReport(res, col.Seen()) also counts lost, doubled and forged
// published events.
func Example() {
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	defer bare.Close()

	res, err := loadtest.Run(context.Background(), loadtest.Options{
		URL: bare.URL, Secret: verifytest.Secret,
		N: 100, Concurrency: 10, Duplicates: 0.2, Forged: 0.05,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	r := loadtest.NewReport(res, nil)
	fmt.Printf("%d sends: %d authentic, %d duplicate sends, %d forged\n", r.Sends, r.Authentic, r.DuplicateSends, r.ForgedSends)
	fmt.Printf("acknowledged %d, forged accepted %d, problems %d\n", r.Acknowledged, r.ForgedAccepted, len(r.Problems()))
	// Output:
	// 100 sends: 75 authentic, 20 duplicate sends, 5 forged
	// acknowledged 75, forged accepted 5, problems 0
}

// Run refuses anything that is not on loopback.
func ExampleValidate() {
	err := loadtest.Validate(loadtest.Options{URL: "https://hooks.example.com/", Secret: verifytest.Secret})
	fmt.Println(err)
	// Output: not a loopback address: URL https://hooks.example.com/: hooks.example.com is not a loopback host (127.0.0.0/8, ::1, localhost)
}
