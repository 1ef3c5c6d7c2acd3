package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/tidwall/gjson"

	"switchboard/internal/gatewaytest"
)

// e2eKeyMoney reads a key's spend and holds through a node's admin API.
func e2eKeyMoney(t *testing.T, base, name string) (spent, reserved int64) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/admin/api/keys", nil)
	req.Header.Set("Authorization", "Bearer "+e2eAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	k := gjson.GetBytes(b, fmt.Sprintf(`data.#(name==%q)`, name))
	if !k.Exists() {
		t.Fatalf("key %s not listed: %s", name, e2eTail(string(b), 300))
	}
	return k.Get("spent_nano_usd").Int(), k.Get("reserved_nano_usd").Int()
}

// A node killed with budget-holding streams in flight releases those
// holds when it starts again — not minutes later — after billing what the
// streams had delivered from their checkpoints; on a shared database the
// holds of another node's calls in flight are left alone.
func TestKilledNodeSettlesItsHoldsAtStart(t *testing.T) {
	for _, nodes := range []int{1, 2} {
		t.Run(map[int]string{1: "sqlite", 2: "postgres+redis"}[nodes], func(t *testing.T) {
			if testing.Short() {
				t.Skip("skipping process end-to-end test in -short mode")
			}
			up := gatewaytest.NewUpstream(t, gatewaytest.OpenAIChat{
				Text: strings.Repeat("word ", 20000), PromptTokens: 10, CompletionTokens: 20000, ChunkDelay: 2 * time.Millisecond,
			}.Handler())
			dir := t.TempDir()
			var storage string
			if nodes == 1 {
				storage = "  database: sqlite://" + filepath.Join(dir, "sb.db")
			} else {
				storage = "  database: " + e2ePostgresDB(t) + "\n" + e2eRedisStorage(t)
			}
			e2eBinary(t)
			cfg := e2eMoneyConfig(up.URL, storage, moneyChannel("oa", "[gpt-4o-mini]", ""), "10")
			adir := e2eMkdir(t, filepath.Join(dir, "a"))
			a := startE2EProc(t, "nodeA", adir, cfg)
			var b *e2eProc
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var wg sync.WaitGroup
			defer wg.Wait()
			stream := func(n *e2eProc, delivered *atomic.Int64, done *atomic.Bool) {
				wg.Go(func() {
					defer done.Store(true)
					c := openai.NewClient(option.WithBaseURL(n.URL()+"/v1"), option.WithAPIKey(e2eMoneyKey), option.WithMaxRetries(0))
					s := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini", MaxCompletionTokens: openai.Int(30000),
						Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("go on")}})
					for s.Next() {
						if ch := s.Current().Choices; len(ch) > 0 && ch[0].Delta.Content != "" {
							delivered.Add(1)
						}
					}
					_ = s.Close()
				})
			}
			var holdB int64
			var onB atomic.Int64
			var bDone atomic.Bool
			if nodes == 2 {
				b = startE2EProc(t, "nodeB", e2eMkdir(t, filepath.Join(dir, "b")), cfg)
				stream(b, &onB, &bDone)
				gatewaytest.WaitFor(t, 10*time.Second, "node B streaming", func() bool { return onB.Load() > 0 })
				_, holdB = e2eKeyMoney(t, b.URL(), "money")
				if holdB <= 0 {
					t.Fatalf("node B's stream holds %d", holdB)
				}
			}
			const streams = 4
			var onA [streams]atomic.Int64
			var aDone [streams]atomic.Bool
			for i := range streams {
				stream(a, &onA[i], &aDone[i])
			}
			// A checkpoint lags what was delivered by at most 512 tokens or
			// about a second of output, whichever is less: at 1,500
			// delivered, more than 900 are checkpointed however slow the
			// machine.
			const delivered, checkpointed = 1500, 900
			gatewaytest.WaitFor(t, 60*time.Second, "node A's streams past a checkpoint", func() bool {
				for i := range streams {
					if onA[i].Load() < delivered {
						return false
					}
				}
				return true
			})
			_, before := e2eKeyMoney(t, a.URL(), "money")
			a.kill()
			t.Logf("held before the kill: %d (node B's share %d)", before, holdB)
			if before <= holdB {
				t.Fatalf("node A's streams held nothing (%d)", before)
			}

			a2 := startE2EProc(t, "nodeA-restarted", adir, cfg)
			// The restart itself settles A's holds: read them at once.
			spent, reserved := e2eKeyMoney(t, a2.URL(), "money")
			t.Logf("after restart: spent %d, reserved %d", spent, reserved)
			// On a slow machine node B's stream may have ended meanwhile,
			// settling its own hold.
			if reserved != holdB && (!bDone.Load() || reserved != 0) {
				t.Errorf("reserved %d after node A restarted, want only node B's hold %d", reserved, holdB)
			}
			// gpt-4o-mini output is 600 nano-USD a token: the checkpointed
			// tokens of each stream are billed, once the replayed records
			// reach the database.
			least := int64(streams * checkpointed * 600)
			deadline := time.Now().Add(15 * time.Second)
			for spent < least && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
				spent, _ = e2eKeyMoney(t, a2.URL(), "money")
			}
			if spent < least {
				t.Errorf("spent %d after the restart; the checkpoints of %d streams bill at least %d", spent, streams, least)
			}
			cancel()
			wg.Wait()
			if b != nil {
				gatewaytest.WaitFor(t, 10*time.Second, "node B's stream settled", func() bool {
					_, r := e2eKeyMoney(t, a2.URL(), "money")
					return r == 0
				})
			}
			for _, p := range []*e2eProc{a2, b} {
				if p != nil {
					p.terminate(30 * time.Second)
				}
			}
		})
	}
}
