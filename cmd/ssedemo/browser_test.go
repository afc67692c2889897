package main

import (
	"context"
	"encoding/json"
	"errors"
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
	// Start the browser on its first tab, so that both pages below are tabs
	// of this one browser (a context that never ran would start a browser
	// for each).
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}
	limit, cancelLimit := context.WithTimeout(browser, 60*time.Second)
	defer cancelLimit()

	// Page A: the clock ticks.
	pageA, closeA := chromedp.NewContext(limit)
	defer closeA()
	clockRE := regexp.MustCompile(`^\d\d:\d\d:\d\d$`)
	if err := chromedp.Do(pageA,
		chromedp.Navigate(base+"/"),
		waitText("#status-chat", "open"),
		waitText("#status-clock", "open"),
		waitMatch("#clock", clockRE),
	); err != nil {
		t.Fatalf("page A: %v", err)
	}
	first := read(t, pageA, "#clock")
	if err := chromedp.Do(pageA, chromedp.Sleep(2200*time.Millisecond)); err != nil {
		t.Fatalf("page A: %v", err)
	}
	second := read(t, pageA, "#clock")
	if chatState := read(t, pageA, "#status-chat"); chatState != "open" {
		t.Errorf("chat stream state %q, want open", chatState)
	}
	if !clockRE.MatchString(first) || !clockRE.MatchString(second) || first == second {
		t.Errorf("clock showed %q, then %q two seconds later: want ticking HH:MM:SS", first, second)
	}

	// Page B sends a chat message as a user does: it types into the form's
	// fields and clicks its button. Page A shows the message.
	pageB, closeB := chromedp.NewContext(limit)
	defer closeB()
	const msg = "hello from page B"
	if err := chromedp.Do(pageB,
		chromedp.Navigate(base+"/"),
		waitText("#status-chat", "open"),
		chromedp.SendKeys(chromedp.ID("chat-name"), "B"),
		chromedp.SendKeys(chromedp.ID("chat-text"), msg),
		chromedp.Click(chromedp.CSS("#chat-form button")),
	); err != nil {
		t.Fatalf("page B: %v", err)
	}
	if err := chromedp.Do(pageA, waitText("#chat-list", "B: "+msg)); err != nil {
		t.Fatalf("page A never showed page B's message: %v", err)
	}
	// Page A closes: its two sessions end as client-gone within 2 s.
	// Leaving the page first fires pagehide, as closing a tab by hand does
	// (the page then sends its goodbye beacon, for the log's detection time);
	// closing the tab through the DevTools protocol alone skips it.
	//
	// The 2 s count from the moment the page has been left, not from the
	// request to leave it: under load Chromium took up to 1.5 s to navigate
	// to about:blank, which failed the check with sessions that ended
	// 2.2 s after the request but 0.3 to 0.9 s after the page was left (in
	// every run measured, the sessions ended after the page had been left:
	// Chromium closes its connections later still). The server's own
	// detection is checked to 2 s on raw TCP by the conformance cases
	// client-close-while-idle and others.
	before := stats(t, base)
	leaving := time.Now()
	if err := chromedp.Do(pageA, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("leaving page A: %v", err)
	}
	closedAt := time.Now()
	t.Logf("leaving page A took %v", closedAt.Sub(leaving))
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
	if err := chromedp.Do(pageB, waitText("#log", "client-gone")); err != nil {
		t.Fatalf("page B's log of ended sessions: %v", err)
	}
	// The detection time needs page A's goodbye beacon, which the browser
	// may drop when the tab closes right after: wait for it briefly only.
	wait, cancel := context.WithTimeout(pageB, 3*time.Second)
	_ = chromedp.Do(wait, waitText("#log", "after the page closed"))
	cancel()
	png, err := chromedp.Run(pageB, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)
}

// waitText waits up to 15 s until the element is visible and its visible
// text contains want.
func waitText(sel, want string) chromedp.Action[chromedp.Void] {
	return waitFor(sel, "contain "+jsString(want), func(s string) bool { return strings.Contains(s, want) })
}

// waitMatch waits up to 15 s until the element is visible and its whole
// visible text matches re.
func waitMatch(sel string, re *regexp.Regexp) chromedp.Action[chromedp.Void] {
	return waitFor(sel, "match "+re.String(), re.MatchString)
}

// waitFor waits up to 15 s until the element is visible and ok accepts its
// visible text. It reads the text through chromedp's DOM queries
// (DOM.querySelector on chromedp's copy of the DOM tree, then the node's
// innerText), as a user sees it.
func waitFor(sel, what string, ok func(string) bool) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
		ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if _, err := chromedp.WaitVisible(chromedp.CSS(sel))(ctx, tgt); err != nil {
			return fmt.Errorf("%s not visible within 15 s: %w", sel, err)
		}
		var last string
		for {
			s, err := chromedp.Text(chromedp.CSS(sel))(ctx, tgt)
			if err == nil && ok(s) {
				return nil
			}
			if err == nil {
				last = s
			}
			select {
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
				return fmt.Errorf("%s shows %q, want it to %s within 15 s: %w", sel, last, what, errors.Join(err, ctx.Err()))
			}
		}
	})
}

// read returns the element's visible text, read through chromedp's DOM
// queries.
func read(t *testing.T, page context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(page, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("reading %s: %v", sel, err)
	}
	return s
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
