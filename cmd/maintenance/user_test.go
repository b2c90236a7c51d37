package main

import (
	"errors"
	"strings"
	"testing"
)

func TestReadPasswordLine(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  string
	}{
		{name: "line end", input: "correct horse\n", want: "correct horse"},
		{name: "CRLF", input: "correct horse\r\n", want: "correct horse"},
		{name: "no line end", input: "correct horse", want: "correct horse"},
		{name: "first line only", input: "first line\nsecond line\n", want: "first line"},
		{name: "spaces kept", input: "  spaced out  \n", want: "  spaced out  "},
		{name: "inner CR kept", input: "a\rb\n", want: "a\rb"},
		{name: "cut at the limit", input: strings.Repeat("x", maxPasswordLine+10), want: strings.Repeat("x", maxPasswordLine)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readPasswordLine(strings.NewReader(tt.input))
			if err != nil {
				t.Fatalf("readPasswordLine(%q): %v", tt.input, err)
			}
			if got != tt.want {
				t.Errorf("readPasswordLine(%q) = %q, want %q", tt.input, got, tt.want)
			}
		})
	}
}

func TestReadPasswordLineEmpty(t *testing.T) {
	_, err := readPasswordLine(strings.NewReader(""))
	if !errors.Is(err, errUsage) {
		t.Errorf("readPasswordLine(\"\"): error %v, want a usage error", err)
	}
}
