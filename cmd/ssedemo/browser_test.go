package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds Debian's chromium; under CI (CI=true) its absence is a
// failure, elsewhere the browser test is skipped.
func chromiumPath(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (scripts/test.sh installs it); under CI this is a failure")
	}
	t.Skip("chromium is not installed; run scripts/test.sh, which installs it")
	return ""
}

// The demo page in headless Chromium, on each framework: it shows clock
// events, shows a chat message sent from a second page, and when it closes,
// /stats reports its sessions ended with client-gone within 2 s.
func TestBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	shots := os.Getenv("SSEDEMO_SCREENSHOTS") // where to save screenshots; default a temp dir
	if shots == "" {
		shots = t.TempDir()
	}
	for _, fw := range frameworks {
		t.Run(fw, func(t *testing.T) { browse(t, chromium, fw, filepath.Join(shots, "ssedemo-"+fw+".png")) })
	}
}

func browse(t *testing.T, chromium, framework, shot string) {
	base := "http://" + startDemo(t, framework, "").addr

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.WindowSize(1100, 820))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	limit, cancelLimit := context.WithTimeout(browser, 60*time.Second)
	defer cancelLimit()

	// Page A: the clock ticks.
	pageA, closeA := chromedp.NewContext(limit)
	defer closeA()
	var first, second, chatState string
	clockRE := regexp.MustCompile(`^\d\d:\d\d:\d\d$`)
	// (chromedp's DOM queries do not work with every Chromium release;
	// everything here goes through Runtime.evaluate, which does.)
	if err := chromedp.Run(pageA,
		chromedp.Navigate(base+"/"),
		waitText("#status-chat", "open"),
		waitText("#status-clock", "open"),
		waitJS(`/^\d\d:\d\d:\d\d$/.test(document.querySelector("#clock").textContent)`),
		text("#clock", &first),
		chromedp.Sleep(2200*time.Millisecond),
		text("#clock", &second),
		text("#status-chat", &chatState),
	); err != nil {
		t.Fatalf("page A: %v", err)
	}
	if chatState != "open" {
		t.Errorf("chat stream state %q, want open", chatState)
	}
	if !clockRE.MatchString(first) || !clockRE.MatchString(second) || first == second {
		t.Errorf("clock showed %q, then %q two seconds later: want ticking HH:MM:SS", first, second)
	}

	// Page B sends a chat message; page A shows it.
	pageB, closeB := chromedp.NewContext(limit)
	defer closeB()
	const msg = "hello from page B"
	if err := chromedp.Run(pageB,
		chromedp.Navigate(base+"/"),
		waitText("#status-chat", "open"),
		chromedp.Evaluate(`document.querySelector("#chat-name").value = "B";
			document.querySelector("#chat-text").value = `+jsString(msg)+`;
			document.querySelector("#chat-form button").click(); true`, nil),
	); err != nil {
		t.Fatalf("page B: %v", err)
	}
	if err := chromedp.Run(pageA, waitText("#chat-list", msg)); err != nil {
		t.Fatalf("page A never showed page B's message: %v", err)
	}
	// Page A closes: its two sessions end as client-gone within 2 s.
	// Leaving the page first fires pagehide, as closing a tab by hand does
	// (the page then sends its goodbye beacon, for the log's detection time);
	// closing the tab through the DevTools protocol alone skips it.
	before := stats(t, base)
	closedAt := time.Now()
	if err := chromedp.Run(pageA, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("leaving page A: %v", err)
	}
	closeA()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := stats(t, base)
		var gone []recentSession
		for _, r := range s.Recent[:len(s.Recent)-len(before.Recent)] {
			if r.Reason == "client-gone" {
				gone = append(gone, r)
			}
		}
		if len(gone) >= 2 {
			for _, r := range gone {
				at, err := time.Parse(time.RFC3339Nano, r.ClosedAt)
				if err != nil {
					t.Fatalf("closed_at %q: %v", r.ClosedAt, err)
				}
				if d := at.Sub(closedAt); d > 2*time.Second {
					t.Errorf("%s session of the closed page ended %v after it closed, want within 2 s", r.Topic, d)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/stats after closing page A: %+v; want its 2 sessions ended as client-gone", s)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Page B's log now shows page A's sessions: the screenshot.
	var png []byte
	if err := chromedp.Run(pageB, waitText("#log", "client-gone")); err != nil {
		t.Fatalf("page B's log of ended sessions: %v", err)
	}
	// The detection time needs page A's goodbye beacon, which the browser
	// may drop when the tab closes right after: wait for it briefly only.
	wait, cancel := context.WithTimeout(pageB, 3*time.Second)
	chromedp.Run(wait, waitText("#log", "after the page closed"))
	cancel()
	if err := chromedp.Run(pageB, chromedp.FullScreenshot(&png, 100)); err != nil { // 100: PNG
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)
}

// waitText waits up to 15 s until the element's text contains want.
func waitText(sel, want string) chromedp.Action {
	return waitJS(`(function(){ const e = document.querySelector(` + jsString(sel) + `);
		return !!e && e.textContent.includes(` + jsString(want) + `); })()`)
}

// waitJS waits up to 15 s until the expression is true.
func waitJS(expr string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		deadline := time.Now().Add(15 * time.Second)
		for {
			var ok bool
			if err := chromedp.Evaluate(expr, &ok).Do(ctx); err != nil {
				return err
			}
			if ok {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("not true within 15 s: %s", expr)
			}
			select {
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})
}

// text reads the element's text.
func text(sel string, out *string) chromedp.Action {
	return chromedp.Evaluate(`document.querySelector(`+jsString(sel)+`).textContent`, out)
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func stats(t *testing.T, base string) Stats {
	t.Helper()
	resp, err := http.Get(base + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s Stats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(resp.Header.Get("Content-Type"), "json") {
		t.Errorf("/stats Content-Type %q", resp.Header.Get("Content-Type"))
	}
	return s
}
