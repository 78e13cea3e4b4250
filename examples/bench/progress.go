package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// ProgressMode is how a run shows its progress on stderr.
type ProgressMode int

const (
	// ProgressNone shows nothing (-json, tests).
	ProgressNone ProgressMode = iota
	// ProgressBar redraws a bar in place about 10 times a second, for a
	// terminal.
	ProgressBar
	// ProgressLines writes a plain line at most once a second, for a file
	// or a pipe.
	ProgressLines
)

const (
	barEvery   = 100 * time.Millisecond
	linesEvery = time.Second
	barWidth   = 20
)

// progress shows a run's progress until stopped.
type progress struct {
	quit chan struct{}
	done chan struct{}
}

// startProgress shows the progress of the run that count reports on (calls
// done so far, and of those failed), in cfg.Progress's way, on w.
func startProgress(w io.Writer, cfg Config, mode string, count func() (done, failed uint64)) *progress {
	p := &progress{quit: make(chan struct{}), done: make(chan struct{})}
	if cfg.Progress == ProgressNone {
		close(p.done)
		return p
	}
	every := barEvery
	if cfg.Progress == ProgressLines {
		every = linesEvery
	}
	if cfg.progressEvery > 0 {
		every = cfg.progressEvery
	}
	go p.loop(w, cfg, mode, every, count)
	return p
}

func (p *progress) loop(w io.Writer, cfg Config, mode string, every time.Duration, count func() (done, failed uint64)) {
	defer close(p.done)
	start := time.Now()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.quit:
			if cfg.Progress == ProgressBar {
				fmt.Fprint(w, "\r\x1b[K") // leave a clean line for the report
			}
			return
		case <-t.C:
			done, failed := count()
			elapsed := time.Since(start)
			if cfg.Progress == ProgressBar {
				fmt.Fprint(w, "\r"+barLine(cfg, mode, elapsed, done, failed)+"\x1b[K")
			} else {
				fmt.Fprintln(w, "bench: "+statusLine(cfg, mode, elapsed, done, failed))
			}
		}
	}
}

// stop ends the display and waits until it has.
func (p *progress) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	close(p.quit)
	<-p.done
}

// fraction returns how far along the run is, in [0, 1].
func fraction(cfg Config, elapsed time.Duration, done uint64) float64 {
	var f float64
	if cfg.Duration > 0 {
		f = elapsed.Seconds() / cfg.Duration.Seconds()
	} else {
		f = float64(done) / float64(cfg.N)
	}
	return min(max(f, 0), 1)
}

// statusLine is the text both displays share: how far, how fast, how many
// failed.
func statusLine(cfg Config, mode string, elapsed time.Duration, done, failed uint64) string {
	rate := 0.0
	if elapsed > 0 {
		rate = float64(done) / elapsed.Seconds()
	}
	var where string
	if cfg.Duration > 0 {
		where = fmt.Sprintf("%.1fs/%s %d calls", elapsed.Seconds(), cfg.Duration, done)
	} else {
		where = fmt.Sprintf("%.1fs %d/%d calls", elapsed.Seconds(), done, cfg.N)
	}
	return fmt.Sprintf("%s %3.0f%% %s %.0f/s %d failed", mode, 100*fraction(cfg, elapsed, done), where, rate, failed)
}

// barLine is the progress bar's line, cut to the terminal's width (when
// known) so that redrawing it in place works.
func barLine(cfg Config, mode string, elapsed time.Duration, done, failed uint64) string {
	fill := int(fraction(cfg, elapsed, done) * barWidth)
	bar := strings.Repeat("=", fill)
	if fill < barWidth {
		bar += ">" + strings.Repeat(" ", barWidth-fill-1)
	}
	line := "[" + bar + "] " + statusLine(cfg, mode, elapsed, done, failed)
	if cfg.termWidth > 1 && len(line) >= cfg.termWidth {
		line = line[:cfg.termWidth-1]
	}
	return line
}
