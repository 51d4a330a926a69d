package npy

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestRoundTripAndBadFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.npy")
	data := []float32{-1, -0.5, 0, 0.5, 1, 1.5}
	if err := Write(p, data, 2, 3); err != nil {
		t.Fatal(err)
	}
	a, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.Shape, []int{2, 3}) || !reflect.DeepEqual(a.Data, data) {
		t.Fatalf("read back %v %v", a.Shape, a.Data)
	}
	info, _ := os.Stat(p)
	if (info.Size()-24)%64 != 0 {
		t.Fatalf("data not aligned to 64 bytes: file size %d", info.Size())
	}
	raw, _ := os.ReadFile(p)
	os.WriteFile(p, raw[:len(raw)-1], 0o644)
	if _, err := Read(p); err == nil {
		t.Fatal("truncated payload accepted")
	}
	os.WriteFile(p, []byte("hello world, not numpy"), 0o644)
	if _, err := Read(p); err == nil {
		t.Fatal("foreign file accepted")
	}
	if err := Write(p, data, 4, 2); err == nil {
		t.Fatal("shape mismatch accepted")
	}
}
