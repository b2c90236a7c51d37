package server

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// frames builds a stream of server frames with these payload sizes (the
// three length encodings), and returns it with the offsets where each
// frame ends.
func frames(sizes ...int) ([]byte, []int) {
	var b []byte
	var ends []int
	for i, n := range sizes {
		b = append(b, frame(byte(1+i%2), bytes.Repeat([]byte{'a' + byte(i%26)}, n), false)...)
		ends = append(ends, len(b))
	}
	return b, ends
}

func TestFrameTracker(t *testing.T) {
	stream, ends := frames(0, 5, 125, 126, 300, 65535, 65536, 70000, 1)
	// Fed in every chunk size, the tracker is at a boundary exactly at
	// the ends of frames.
	for _, chunk := range []int{1, 2, 3, 7, 125, 4096, len(stream)} {
		var tr frameTracker
		boundaries := map[int]bool{}
		for off := 0; off < len(stream); off += chunk {
			end := min(off+chunk, len(stream))
			for i := off; i < end; i++ {
				tr.feed(stream[i : i+1])
				if tr.atBoundary() {
					boundaries[i+1] = true
				}
			}
		}
		for _, e := range ends {
			if !boundaries[e] {
				t.Fatalf("chunk %d: no boundary at %d", chunk, e)
			}
		}
		if len(boundaries) != len(ends) {
			t.Fatalf("chunk %d: %d boundaries, want %d", chunk, len(boundaries), len(ends))
		}
	}
	var tr frameTracker
	tr.feed(stream[:ends[2]+3])
	if k := tr.toBoundary(stream[ends[2]+3:]); k != ends[3]-ends[2]-3 {
		t.Errorf("toBoundary: %d, want %d", k, ends[3]-ends[2]-3)
	}
}

func FuzzFrameTracker(f *testing.F) {
	f.Add([]byte{0, 5, 200, 1}, uint16(3))
	f.Add([]byte{130, 2}, uint16(1))
	f.Fuzz(func(t *testing.T, sizes []byte, cut uint16) {
		if len(sizes) > 16 {
			return
		}
		var ns []int
		for _, s := range sizes {
			ns = append(ns, int(s)*int(s)) // up to 65025: every length encoding
		}
		stream, ends := frames(ns...)
		if len(stream) == 0 {
			return
		}
		at := int(cut) % len(stream)
		var tr frameTracker
		tr.feed(stream[:at])
		k := tr.toBoundary(stream[at:])
		next := -1
		for _, e := range append([]int{0}, ends...) { // the start is a boundary too
			if e >= at {
				next = e - at
				break
			}
		}
		if k != next {
			t.Fatalf("from %d: boundary after %d bytes, want %d (ends %v)", at, k, next, ends)
		}
	})
}

func TestCloseFrame(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes
	f := closeFrame(1012, long)
	if f[0] != 0x88 || int(f[1]) != len(f)-2 || len(f) > 2+125 {
		t.Fatalf("header % x, length %d", f[:2], len(f))
	}
	if code := binary.BigEndian.Uint16(f[2:]); code != 1012 {
		t.Errorf("code %d", code)
	}
	if r := f[4:]; !utf8.Valid(r) || len(r) > 123 || !strings.HasPrefix(long, string(r)) {
		t.Errorf("reason %q", r)
	}
}

// A close frame is never put inside a frame the upstream is sending.
func TestUpgradedConnClosesBetweenFrames(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	c := &upgradedConn{Conn: server, ws: true, done: make(chan struct{})}
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(client)
		got <- b
	}()
	big := frame(2, bytes.Repeat([]byte{'x'}, 1000), false)
	if _, err := c.Write(big[:500]); err != nil {
		t.Fatal(err)
	}
	shut := make(chan struct{})
	go func() { c.shut(wsServiceRestart, "Back soon"); close(shut) }()
	<-shut // mid-frame: nothing sent yet
	n, err := c.Write(append(big[500:], frame(1, []byte("after"), false)...))
	if n != len(big)-500 || err == nil {
		t.Errorf("the write across the boundary: %d, %v; want the frame's end and an error", n, err)
	}
	var b []byte
	select {
	case b = <-got:
	case <-time.After(waitFor):
		t.Fatal("the connection was not closed")
	}
	br := bufio.NewReader(bytes.NewReader(b))
	if op, p, err := readFrame(br); err != nil || op != 2 || len(p) != 1000 {
		t.Fatalf("first frame: op %d, %d bytes, %v", op, len(p), err)
	}
	op, p, err := readFrame(br)
	if err != nil || op != 8 || binary.BigEndian.Uint16(p) != 1012 || string(p[2:]) != "Back soon" {
		t.Fatalf("second frame: op %d %q %v, want close 1012", op, p, err)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after the close frame: %v", err)
	}
}

// A frame that does not end does not keep the connection open.
func TestUpgradedConnClosesAStuckFrame(t *testing.T) {
	defer func(d time.Duration) { closeFrameWait = d }(closeFrameWait)
	closeFrameWait = 100 * time.Millisecond
	server, client := net.Pipe()
	defer client.Close()
	c := &upgradedConn{Conn: server, ws: true, done: make(chan struct{})}
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(client)
		got <- b
	}()
	c.Write(frame(2, make([]byte, 1000), false)[:10])
	c.shut(wsGoingAway, "bye")
	select {
	case b := <-got:
		if len(b) != 10 {
			t.Errorf("got %d bytes, want the 10 written", len(b))
		}
	case <-time.After(waitFor):
		t.Fatal("the connection was not closed")
	}
}
