// Package npy reads and writes little-endian float32 C-order .npy arrays (the layer
// fixtures' format and what the samples write).
package npy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

var magic = []byte("\x93NUMPY")

// Array is float32 data in row-major order and its shape.
type Array struct {
	Data  []float32
	Shape []int
}

// Dims2 returns (rows, cols) of a 2-D array.
func (a *Array) Dims2() (rows, cols int, ok bool) {
	if len(a.Shape) != 2 {
		return 0, 0, false
	}
	return a.Shape[0], a.Shape[1], true
}

// field is the text after `'key':` in a header dict.
func field(header, key string) (string, bool) {
	at := strings.Index(header, "'"+key+"'")
	if at < 0 {
		return "", false
	}
	rest := strings.TrimSpace(header[at+len(key)+2:])
	if !strings.HasPrefix(rest, ":") {
		return "", false
	}
	return strings.TrimSpace(rest[1:]), true
}

func parseShape(header string) ([]int, error) {
	value, ok := field(header, "shape")
	if !ok || !strings.HasPrefix(value, "(") || !strings.Contains(value, ")") {
		return nil, fmt.Errorf("bad shape in header %q", header)
	}
	shape := []int{}
	for _, dim := range strings.Split(value[1:strings.Index(value, ")")], ",") {
		if dim = strings.TrimSpace(dim); dim == "" {
			continue
		}
		n, err := strconv.Atoi(dim)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("bad dimension %q in header", dim)
		}
		shape = append(shape, n)
	}
	return shape, nil
}

// Read reads a float32 ('<f4'), C-order array.
func Read(path string) (*Array, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) < 10 || !bytes.Equal(data[:6], magic) {
		return nil, fmt.Errorf("%s: not a .npy file", path)
	}
	headerLen, start := int(binary.LittleEndian.Uint16(data[8:10])), 10
	if data[6] >= 2 {
		if len(data) < 12 {
			return nil, fmt.Errorf("%s: truncated header", path)
		}
		headerLen, start = int(binary.LittleEndian.Uint32(data[8:12])), 12
	}
	if start+headerLen > len(data) {
		return nil, fmt.Errorf("%s: truncated header", path)
	}
	header := string(data[start : start+headerLen])
	if descr, _ := field(header, "descr"); !strings.HasPrefix(descr, "'<f4'") {
		return nil, fmt.Errorf("%s: dtype must be '<f4', header is %s", path, strings.TrimSpace(header))
	}
	if order, _ := field(header, "fortran_order"); !strings.HasPrefix(order, "False") {
		return nil, fmt.Errorf("%s: only C-order arrays are supported", path)
	}
	shape, err := parseShape(header)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	count := 1
	for _, d := range shape {
		count *= d
	}
	payload := data[start+headerLen:]
	if len(payload) != 4*count {
		return nil, fmt.Errorf("%s: payload of %d bytes does not match shape %v", path, len(payload), shape)
	}
	values := make([]float32, count)
	for i := range values {
		values[i] = math.Float32frombits(binary.LittleEndian.Uint32(payload[4*i:]))
	}
	return &Array{Data: values, Shape: shape}, nil
}

// Write writes data with shape as a version 1.0 float32 C-order array.
func Write(path string, data []float32, shape ...int) error {
	count := 1
	dims := make([]string, len(shape))
	for i, d := range shape {
		count *= d
		dims[i] = strconv.Itoa(d)
	}
	if count != len(data) {
		return fmt.Errorf("%s: %d elements do not fill shape %v", path, len(data), shape)
	}
	tuple := "(" + strings.Join(dims, ", ") + ")"
	if len(dims) == 1 {
		tuple = "(" + dims[0] + ",)"
	}
	header := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': %s, }", tuple)
	// Pad so that the data starts at a multiple of 64 bytes; the header ends with '\n'.
	for (len(magic)+4+len(header)+1)%64 != 0 {
		header += " "
	}
	header += "\n"
	out := make([]byte, 0, len(magic)+4+len(header)+4*len(data))
	out = append(out, magic...)
	out = append(out, 1, 0)
	out = binary.LittleEndian.AppendUint16(out, uint16(len(header)))
	out = append(out, header...)
	for _, v := range data {
		out = binary.LittleEndian.AppendUint32(out, math.Float32bits(v))
	}
	return os.WriteFile(path, out, 0o644)
}
