package e2e

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// BenchmarkConsoleClusters: the console's cluster list with 1,000 clusters
// joined, paged 20 at a time, in chromium on loopback. ms/load is a fresh
// load of the page (the document, its modules, the session check and the
// list) from navigation start until the screen is drawn; ms/turn a page
// turn within the console. Both are read from the console's own user
// timing marks (ote:route, ote:shown). The figures are in docs/benchmarks.md:
//
//	go test -run '^$' -bench ConsoleClusters -benchtime 50x ./test/e2e
func BenchmarkConsoleClusters(b *testing.B) {
	chromiumPath(b)
	h := startHub(b, "", "--data-dir", b.TempDir(), "--admin-password", "Root-pass1", "--agent-bootstrap-token", bootstrap)
	const clusters = 1000
	var wg sync.WaitGroup
	errs := make(chan error, clusters)
	work := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range work {
				if _, err := joinCluster(http.DefaultClient, h.url, fmt.Sprintf("edge-%04d", i)); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range clusters {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}

	br := newBrowser(b)
	tb := br.tab("admin", h.url)
	tb.open("/signin")
	tb.signIn("admin", "Root-pass1")
	tb.see("You are signed in as system administrator.")

	// drawn waits for a page of 20 clusters and returns the ms from the
	// mark since to ote:shown (since "": from navigation start).
	drawn := func(page int, since string) float64 {
		js := fmt.Sprintf(`(() => { const m = performance.getEntriesByName('ote:shown'); const r = performance.getEntriesByName('ote:route');
			const rows = document.querySelectorAll('#view tbody tr').length;
			if (!m.length || rows !== 20 || !document.getElementById('view').innerText.includes('Page %d of 50')) return '';
			return String(m[m.length-1].startTime - (%q === 'route' && r.length ? r[r.length-1].startTime : 0)); })()`, page, since)
		var s string
		tb.until(fmt.Sprintf("drew page %d of the clusters", page), func() bool { return tb.eval(js, &s) == nil && s != "" })
		ms, _ := strconv.ParseFloat(s, 64)
		return ms
	}
	var load, turn float64
	b.ResetTimer()
	for i := range b.N {
		page := i%49 + 1
		tb.run("load", chromedp.Navigate(fmt.Sprintf("%s/?n=%d#/clusters?page=%d", h.url, i, page)))
		load += drawn(page, "")
		var s string
		_ = tb.eval(fmt.Sprintf(`(() => { location.hash = '#/clusters?page=%d'; return ''; })()`, page+1), &s)
		turn += drawn(page+1, "route")
	}
	b.StopTimer()
	b.ReportMetric(load/float64(b.N), "ms/load")
	b.ReportMetric(turn/float64(b.N), "ms/turn")
	br.checkNoErrors()
}
