package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ssekit/ssekit/conformance"
)

// /metrics serves the OpenTelemetry instruments through the Prometheus
// exporter, on every framework: after a refused stream and a chat session
// that got one message and closed, the page parses and counts them.
func TestMetrics(t *testing.T) {
	for _, fw := range frameworks {
		t.Run(fw, func(t *testing.T) {
			r := startDemo(t, fw, "")
			base := "http://" + r.addr
			resp, err := http.Get(base + "/events") // no topic: Admit refuses it
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()

			conn, err := net.Dial("tcp", r.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(20 * time.Second))
			io.WriteString(conn, "GET /events?topic=chat&sid=m HTTP/1.1\r\nHost: demo\r\n\r\n")
			sresp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil || sresp.StatusCode != http.StatusOK {
				t.Fatalf("open chat: %v %v", sresp, err)
			}
			chat := conformance.NewParser(sresp.Body)
			waitSubscribed(t, r.d, 1)
			presp, err := http.Post(base+"/publish", "application/json", strings.NewReader(`{"name":"t","text":"hi"}`))
			if err != nil || presp.StatusCode != http.StatusOK {
				t.Fatalf("publish: %v %v", presp, err)
			}
			presp.Body.Close()
			ev, err := chat.Next()
			if err != nil || ev.Type != "chat" {
				t.Fatalf("chat event %+v, %v", ev, err)
			}
			conn.Close() // the page goes away
			for deadline := time.Now().Add(10 * time.Second); r.d.ep.Active() != 0; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the session did not end within 10 s of its client leaving")
				}
			}

			fams := scrape(t, base+"/metrics")
			for name, want := range map[string]float64{
				`sse_server_sessions_opened_total`:                                   1,
				`sse_server_sessions_active`:                                         0,
				`sse_server_sessions_refused_total{sse_refusal_reason="admit"}`:      1,
				`sse_server_sessions_refused_total{sse_refusal_reason="overloaded"}`: 0,
				`sse_server_sessions_closed_total{sse_close_reason="client-gone"}`:   1,
				`sse_server_sessions_closed_total{sse_close_reason="shutdown"}`:      0,
				`sse_server_events_sent_total`:                                       1,
				`sse_server_session_duration_seconds_count`:                          1,
				`sse_hub_events_published_total`:                                     1,
				`sse_hub_publish_duration_seconds_count`:                             1,
				`sse_hub_subscribers`:                                                0,
				`sse_hub_events_queued`:                                              0,
				`sse_hub_resets_total{sse_reset_kind="gap"}`:                         0,
				`sse_hub_backend_errors_total`:                                       0,
			} {
				if got, ok := fams[name]; !ok || got != want {
					t.Errorf("%s = %v (present: %v), want %v", name, got, ok, want)
				}
			}
			if b := fams["sse_server_sent_bytes_total"]; b < float64(len(ev.Data)) {
				t.Errorf("sse_server_sent_bytes_total = %v, less than the chat event's %d bytes of data", b, len(ev.Data))
			}
			if d := fams["sse_server_session_duration_seconds_sum"]; d <= 0 || d > 30 {
				t.Errorf("sse_server_session_duration_seconds_sum = %v, want the session's few seconds at most", d)
			}
		})
	}
}

// scrape gets a Prometheus text page and returns every sample by name with
// its labels ({k="v",…}, sorted; the exporter's otel_scope_* labels left
// out), histograms as _count and _sum.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			key := name + labels(m)
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[name+"_count"+labels(m)] = float64(m.GetHistogram().GetSampleCount())
				out[name+"_sum"+labels(m)] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}

func labels(m *dto.Metric) string {
	var kv []string
	for _, l := range m.GetLabel() {
		if !strings.HasPrefix(l.GetName(), "otel_scope_") {
			kv = append(kv, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
		}
	}
	if len(kv) == 0 {
		return ""
	}
	return "{" + strings.Join(kv, ",") + "}"
}
