package handlers

import "strconv"

func itoa(n int) string { return strconv.Itoa(n) }

func atoiDefault(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return def
	}
	return n
}
