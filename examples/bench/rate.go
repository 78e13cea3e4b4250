package main

import (
	"fmt"
	"strconv"
	"strings"
)

// parseRates reads -rate: calls per second, or several separated by
// commas for a sweep, each a number with an optional k (thousand) or M
// (million) suffix: "10k,50k,1.5M".
func parseRates(s string) ([]float64, error) {
	if s == "" {
		return nil, nil
	}
	var rates []float64
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		mult := 1.0
		switch {
		case strings.HasSuffix(f, "k"), strings.HasSuffix(f, "K"):
			mult, f = 1e3, f[:len(f)-1]
		case strings.HasSuffix(f, "M"):
			mult, f = 1e6, f[:len(f)-1]
		}
		r, err := strconv.ParseFloat(f, 64)
		if err != nil || !(r*mult >= 1 && r*mult <= 1e9) {
			return nil, fmt.Errorf("-rate %q: want calls per second from 1 to 1G, as 5000, 10k or 1.5M, comma-separated for a sweep", s)
		}
		rates = append(rates, r*mult)
	}
	return rates, nil
}

// fmtRate writes a rate the way -rate reads it: 50k, 1.5M, 300.
func fmtRate(r float64) string {
	switch {
	case r >= 1e6:
		return strconv.FormatFloat(r/1e6, 'f', -1, 64) + "M"
	case r >= 1e3:
		return strconv.FormatFloat(r/1e3, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(r, 'f', -1, 64)
}
