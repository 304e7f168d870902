package cvc

import (
	"fmt"
	"time"
)

// Date is a calendar day as written in CV certificates: six bytes of unpacked BCD, YYMMDD,
// years 2000-2099 (TR-03110 Part 3, D.2.1.3).
type Date struct {
	Year  int // 2000..2099
	Month time.Month
	Day   int
}

// DateOf returns the calendar day of t in UTC.
func DateOf(t time.Time) Date {
	y, m, d := t.UTC().Date()
	return Date{Year: y, Month: m, Day: d}
}

// ParseDate parses "YYYY-MM-DD" or "YYMMDD".
func ParseDate(s string) (Date, error) {
	layout := "2006-01-02"
	if len(s) == 6 {
		layout = "060102"
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return Date{}, fmt.Errorf("date %q: want YYYY-MM-DD or YYMMDD", s)
	}
	d := DateOf(t)
	if d.Year < 2000 || d.Year > 2099 {
		return Date{}, fmt.Errorf("date %q: year outside 2000-2099", s)
	}
	return d, nil
}

// decodeDate decodes the six BCD digits.
func decodeDate(b []byte) (Date, error) {
	if len(b) != 6 {
		return Date{}, fmt.Errorf("%w: date of %d bytes, want 6", ErrSyntax, len(b))
	}
	for _, c := range b {
		if c > 9 {
			return Date{}, fmt.Errorf("%w: date digit %#02x is not unpacked BCD", ErrSyntax, c)
		}
	}
	d := Date{
		Year:  2000 + int(b[0])*10 + int(b[1]),
		Month: time.Month(int(b[2])*10 + int(b[3])),
		Day:   int(b[4])*10 + int(b[5]),
	}
	if !d.valid() {
		return Date{}, fmt.Errorf("%w: invalid date %s", ErrSyntax, d)
	}
	return d, nil
}

func (d Date) valid() bool {
	if d.Year < 2000 || d.Year > 2099 || d.Month < 1 || d.Month > 12 || d.Day < 1 {
		return false
	}
	return DateOf(d.Time()) == d
}

// encode returns the six BCD digits.
func (d Date) encode() []byte {
	y := d.Year - 2000
	m, day := int(d.Month), d.Day
	return []byte{byte(y / 10), byte(y % 10), byte(m / 10), byte(m % 10), byte(day / 10), byte(day % 10)}
}

// Time returns the start of the day in UTC.
func (d Date) Time() time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC) }

// IsZero reports whether d is the zero Date.
func (d Date) IsZero() bool { return d == Date{} }

// Before reports whether d is an earlier day than e.
func (d Date) Before(e Date) bool { return d.Time().Before(e.Time()) }

// AddDays returns the day n days after d.
func (d Date) AddDays(n int) Date { return DateOf(d.Time().AddDate(0, 0, n)) }

// String formats d as YYYY-MM-DD.
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day) }
