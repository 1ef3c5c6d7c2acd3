package ledger

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/secret"
	"switchboard/internal/sqlstore"
)

func TestSettleChargesThePrice(t *testing.T) {
	st := newMemStore()
	w, err := Open(context.Background(), t.TempDir(), st, Options{FlushInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Record(&gateway.UsageRecord{RequestID: "r", KeyID: 1, CostNanoUSD: 70, PriceNanoUSD: 100}, true); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st.settled["r"] != 100 {
		t.Fatalf("settled %d, want the price 100", st.settled["r"])
	}
}

// TestCheckpointsSupersededAndReplayed: a final record supersedes its
// stream's checkpoints; a checkpoint without one is billed at the next
// start, once, marked; segments holding an open stream's checkpoint
// survive rotation.
func TestCheckpointsSupersededAndReplayed(t *testing.T) {
	dir := t.TempDir()
	crashed := newMemStore()
	w, err := Open(context.Background(), dir, crashed, Options{FlushInterval: time.Millisecond, SyncInterval: time.Millisecond, SegmentMax: 2})
	if err != nil {
		t.Fatal(err)
	}
	cp := func(id string, out int64) {
		t.Helper()
		r := &gateway.UsageRecord{RequestID: id, KeyID: 1, Usage: llm.Usage{OutputTokens: out}, PriceNanoUSD: out, Stream: true}
		if err := w.Checkpoint(r, true); err != nil {
			t.Fatal(err)
		}
	}
	cp("open", 10)
	cp("done", 5)
	for i := range 6 { // rotate through several segments
		if err := w.Record(rec(100+i), false); err != nil {
			t.Fatal(err)
		}
	}
	cp("open", 20)
	if err := w.Record(&gateway.UsageRecord{RequestID: "done", KeyID: 1, PriceNanoUSD: 50}, true); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		if err := w.Record(rec(200+i), false); err != nil {
			t.Fatal(err)
		}
	}
	// Wait for every final record to be stored and spent segments removed.
	deadline := time.Now().Add(5 * time.Second)
	for crashed.count() < 13 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	if _, stored := crashed.usage["open"]; stored {
		t.Fatal("a checkpoint was stored while its stream was open")
	}
	if len(SpoolFiles(dir)) == 0 {
		t.Fatal("the open stream's checkpoint segment was removed")
	}
	// The process dies here: w is abandoned. The next start replays.
	fresh := newMemStore()
	for k, v := range crashed.usage { // the database survives the crash
		fresh.usage[k] = v
	}
	for k, v := range crashed.settled {
		fresh.settled[k] = v
	}
	w2, err := Open(context.Background(), dir, fresh, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, ok := fresh.usage["open"]
	if !ok || got.Usage.OutputTokens != 20 || got.UsageSource != gateway.UsageCheckpoint || !strings.Contains(got.ErrorMessage, CheckpointNote) {
		t.Fatalf("open stream billed as %+v, %v", got, ok)
	}
	if fresh.settled["open"] != 20 || fresh.settled["done"] != 50 {
		t.Fatalf("settles = %v", fresh.settled)
	}
	if d := fresh.usage["done"]; d.PriceNanoUSD != 50 || d.UsageSource == gateway.UsageCheckpoint {
		t.Fatalf("the final record lost to a checkpoint: %+v", d)
	}
	if err := w2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if files := SpoolFiles(dir); len(files) != 0 {
		t.Fatalf("spool left after replay: %v", files)
	}
	// Replaying again (a second crash right after) bills nothing twice.
	again := newMemStore()
	w3, err := Open(context.Background(), dir, again, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = w3.Close(context.Background())
	if again.count() != 0 {
		t.Fatalf("second replay stored %d records", again.count())
	}
}

func TestCheckpointer(t *testing.T) {
	w, err := Open(context.Background(), t.TempDir(), newMemStore(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	t0 := time.Unix(1000, 0)
	c := w.NewCheckpointer(t0, time.Second, 100)
	steps := []struct {
		at     time.Duration
		tokens int64
		due    bool
	}{
		{100 * time.Millisecond, 10, false},  // too soon, too few
		{200 * time.Millisecond, 150, false}, // enough tokens, but under a quarter period
		{300 * time.Millisecond, 150, true},  // enough tokens after a quarter period
		{400 * time.Millisecond, 160, false},
		{1400 * time.Millisecond, 160, true},  // a period passed with new output
		{2600 * time.Millisecond, 160, false}, // a period passed but nothing new
		{2600 * time.Millisecond, 161, true},
	}
	for i, st := range steps {
		now := t0.Add(st.at)
		if got := c.Due(now, st.tokens); got != st.due {
			t.Fatalf("step %d: Due = %v", i, got)
		}
		if st.due {
			if err := c.Save(&gateway.UsageRecord{RequestID: "s"}, false, now, st.tokens); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestNodeID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "node-id")
	a, err := NodeID(path)
	if err != nil || !strings.HasPrefix(a, "node-") {
		t.Fatalf("NodeID = %q, %v", a, err)
	}
	b, err := NodeID(path)
	if err != nil || b != a {
		t.Fatalf("NodeID not stable: %q then %q (%v)", a, b, err)
	}
	if err := os.WriteFile(path, []byte("bad id\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NodeID(path); err == nil {
		t.Fatal("invalid node id accepted")
	}
}

// killEnv makes the test binary run killChild instead of the tests.
const killEnv = "SWITCHBOARD_LEDGER_KILL_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(killEnv); dir != "" {
		killChild(dir)
		return
	}
	os.Exit(m.Run())
}

func killStore(dir string) (*sqlstore.Store, error) {
	box, err := secret.LoadOrCreate(filepath.Join(dir, "secret.key"), "")
	if err != nil {
		return nil, err
	}
	return sqlstore.Open(context.Background(), "sqlite://"+filepath.Join(dir, "db.sqlite"), sqlstore.Options{Secret: box, NodeID: "node-kill"})
}

// killChild is the process the kill test kills: it serves a finished call,
// a stream still delivering, a stream that finished after checkpoints, and
// a non-stream call in flight, then waits to be killed.
func killChild(dir string) {
	ctx := context.Background()
	st, err := killStore(dir)
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	w, err := Open(ctx, filepath.Join(dir, "spool"), st, Options{FlushInterval: time.Hour})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	step := func(err error) {
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(2)
		}
	}
	hold := func(id string, amount int64) {
		_, err := st.Hold(ctx, gateway.HoldRequest{KeyID: 1, RequestID: id, Amount: amount})
		step(err)
	}
	hold("done", 1000)
	step(w.Record(&gateway.UsageRecord{RequestID: "done", KeyID: 1, PriceNanoUSD: 400}, true))
	hold("streaming", 5000)
	step(w.Checkpoint(&gateway.UsageRecord{RequestID: "streaming", KeyID: 1, Stream: true, PriceNanoUSD: 1000, Usage: llm.Usage{OutputTokens: 100}}, true))
	step(w.Checkpoint(&gateway.UsageRecord{RequestID: "streaming", KeyID: 1, Stream: true, PriceNanoUSD: 2000, Usage: llm.Usage{OutputTokens: 200}}, true))
	hold("finished", 3000)
	step(w.Checkpoint(&gateway.UsageRecord{RequestID: "finished", KeyID: 1, Stream: true, PriceNanoUSD: 500}, true))
	step(w.Record(&gateway.UsageRecord{RequestID: "finished", KeyID: 1, Stream: true, PriceNanoUSD: 900}, true))
	hold("nonstream", 7000)
	fmt.Println("READY")
	time.Sleep(time.Hour)
}

// TestKillMidStream kills a process with SIGKILL while a stream is in
// flight and checks the next start bills what was delivered and frees the
// node's other holds at once.
func TestKillMidStream(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	st, err := killStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateKey(context.Background(), gateway.Key{Name: "k", Hash: "h", BudgetNanoUSD: 1_000_000, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), killEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "READY" {
		_ = cmd.Process.Kill()
		t.Fatalf("child said %q", line)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	st, err = killStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	k, _ := st.KeyByID(ctx, 1)
	if k.ReservedNanoUSD != 1000+5000+3000+7000 {
		t.Fatalf("before the restart: reserved %d", k.ReservedNanoUSD)
	}
	w, err := Open(ctx, filepath.Join(dir, "spool"), st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(ctx)
	if _, err := st.ReleaseNode(ctx); err != nil {
		t.Fatal(err)
	}
	recs, err := st.ListUsage(ctx, gateway.LedgerFilter{})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]gateway.UsageRecord{}
	for _, r := range recs {
		byID[r.RequestID] = r
	}
	if len(byID) != 3 || byID["done"].PriceNanoUSD != 400 || byID["finished"].PriceNanoUSD != 900 {
		t.Fatalf("records = %+v", byID)
	}
	if s := byID["streaming"]; s.PriceNanoUSD != 2000 || s.Usage.OutputTokens != 200 || s.UsageSource != gateway.UsageCheckpoint {
		t.Fatalf("the stream was billed as %+v", s)
	}
	k, _ = st.KeyByID(ctx, 1)
	if k.SpentNanoUSD != 400+2000+900 || k.ReservedNanoUSD != 0 {
		t.Fatalf("after the restart: spent %d, reserved %d", k.SpentNanoUSD, k.ReservedNanoUSD)
	}
}
