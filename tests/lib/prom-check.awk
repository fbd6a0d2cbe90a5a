# SPDX-License-Identifier: LGPL-2.1-or-later
# prom-check.awk FILE: a strict checker of the Prometheus text exposition
# format (version 0.0.4), as much of it as a scraper relies on. Prints each
# fault as "line N: what: the line" and exits 1 if there is one.
#   - lines: "# HELP name text", "# TYPE name type", other comments, samples;
#     no empty line;
#   - names [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* (not
#     twice in one sample), label values quoted with only \\ \" \n escaped;
#   - values: a float, NaN or +-Inf, then optionally an integer timestamp;
#   - every sample belongs to a family with a TYPE, given once and before its
#     samples; a family's lines stand together; no sample (name and labels)
#     twice; counters and histogram parts are never negative or NaN;
#   - histograms: only NAME_bucket, NAME_sum and NAME_count; every bucket has
#     le; per label set its bounds rise, its counts do not fall, the last bound
#     is +Inf and its count equals NAME_count, and NAME_sum is there.
# POSIX awk (mawk runs it).
function bad(m) { printf "line %d: %s: %s\n", NR, m, $0; err = 1 }
function isnum(v) { return v ~ /^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?$/ }
function isvalue(v) { return isnum(v) || v ~ /^(NaN|[-+]?Inf)$/ }
function bound(v) { return v ~ /^\+?Inf$/ ? "inf" : v + 0 }
# Parses labels at the start of s ("{...}"): sets L_n, L_name[i], L_value[i],
# L_rest (what follows) and returns 1, or returns 0 with L_why.
function labels(s,    c, name, val, i) {
	L_n = 0
	s = substr(s, 2)
	if (substr(s, 1, 1) == "}") { L_rest = substr(s, 2); return 1 }
	for (;;) {
		if (!match(s, /^[a-zA-Z_][a-zA-Z0-9_]*/)) { L_why = "bad label name"; return 0 }
		name = substr(s, 1, RLENGTH); s = substr(s, RLENGTH + 1)
		for (i = 1; i <= L_n; i++) if (L_name[i] == name) { L_why = "label " name " twice"; return 0 }
		if (substr(s, 1, 2) != "=\"") { L_why = "label " name " without =\"value\""; return 0 }
		s = substr(s, 3); val = ""
		for (;;) {
			if (s == "") { L_why = "unterminated label value"; return 0 }
			c = substr(s, 1, 1)
			if (c == "\"") { s = substr(s, 2); break }
			if (c == "\\") {
				c = substr(s, 2, 1)
				if (c != "\\" && c != "\"" && c != "n") { L_why = "bad escape \\" c; return 0 }
				val = val "\\" c; s = substr(s, 3); continue
			}
			val = val c; s = substr(s, 2)
		}
		L_n++; L_name[L_n] = name; L_value[L_n] = val
		c = substr(s, 1, 1); s = substr(s, 2)
		if (c == "}") { L_rest = s; return 1 }
		if (c != ",") { L_why = "expected , or } after a label"; return 0 }
	}
}
# The family a sample name belongs to, or "".
function family(name,    base) {
	if (name in type) return name
	base = name
	if (sub(/_(bucket|sum|count)$/, "", base) && (base in type) && type[base] ~ /^(histogram|summary)$/) return base
	return ""
}
/^# HELP / {
	if ($3 !~ /^[a-zA-Z_:][a-zA-Z0-9_:]*$/) bad("bad metric name in HELP")
	if (help[$3]++) bad("HELP twice")
	next
}
/^# TYPE / {
	if ($3 !~ /^[a-zA-Z_:][a-zA-Z0-9_:]*$/) bad("bad metric name in TYPE")
	if (NF != 4) bad("TYPE takes a name and a type")
	if ($3 in type) bad("TYPE twice")
	if ($4 !~ /^(counter|gauge|histogram|summary|untyped)$/) bad("unknown type")
	if (started[$3]) bad("TYPE after a sample")
	type[$3] = $4; next
}
/^#/ { next }
/^$/ { bad("empty line"); next }
{
	line = $0
	if (!match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*/)) { bad("bad metric name"); next }
	name = substr(line, 1, RLENGTH); rest = substr(line, RLENGTH + 1)
	L_n = 0
	if (substr(rest, 1, 1) == "{") {
		if (!labels(rest)) { bad(L_why); next }
		rest = L_rest
	}
	if (substr(rest, 1, 1) != " ") { bad("no space before the value"); next }
	n = split(substr(rest, 2), f, " ")
	if (n < 1 || n > 2 || substr(rest, 2) != (n == 1 ? f[1] : f[1] " " f[2])) { bad("bad value field"); next }
	if (!isvalue(f[1])) { bad("bad value"); next }
	if (n == 2 && f[2] !~ /^-?[0-9]+$/) { bad("bad timestamp"); next }
	value = f[1]
	fam = family(name)
	if (fam == "") { bad("sample without TYPE"); next }
	if (fam != cur) {
		if (done[fam]) bad("family " fam " resumes after another")
		if (cur != "") done[cur] = 1
		cur = fam
	}
	started[fam] = 1
	t = type[fam]
	# The sample's identity: name and labels but le, in a canonical order.
	key = ""; le = ""; hasle = 0
	for (i = 1; i <= L_n; i++) {
		if (L_name[i] == "le" && t == "histogram") { le = L_value[i]; hasle = 1; continue }
		key = key "," L_name[i] "=" L_value[i]
	}
	if (seen[name "{" key "," le "}"]++) bad("sample twice")
	if (t == "counter" || t == "histogram") {
		if (value ~ /^(NaN|-)/ ) bad(t " value negative or NaN")
	}
	if (t == "histogram") {
		if (name == fam) { bad("histogram sample without _bucket, _sum or _count"); next }
		hk = fam "{" key "}"
		sets[hk] = 1
		if (name == fam "_bucket") {
			if (!hasle) { bad("bucket without le"); next }
			if (!isvalue(le) || le ~ /NaN|^-Inf$/) { bad("bad le"); next }
			if (infseen[hk]) bad("bucket after the +Inf bucket")
			if (hk in lastle) {
				if (lastle[hk] == "inf" || (bound(le) != "inf" && bound(le) <= lastle[hk])) bad("bucket bounds do not rise")
				if (value + 0 < lastn[hk]) bad("bucket counts fall")
			}
			lastle[hk] = bound(le); lastn[hk] = value + 0
			if (bound(le) == "inf") { infseen[hk] = 1; infn[hk] = value + 0; infline[hk] = NR }
		} else if (hasle) bad("le outside a bucket")
		else if (name == fam "_count") { count[hk] = value + 0; hascount[hk] = 1 }
		else if (name == fam "_sum") hassum[hk] = 1
	}
}
END {
	for (hk in sets) {
		if (!infseen[hk]) { printf "%s: no +Inf bucket\n", hk; err = 1 }
		if (!hascount[hk]) { printf "%s: no _count\n", hk; err = 1 }
		if (!hassum[hk]) { printf "%s: no _sum\n", hk; err = 1 }
		if (infseen[hk] && hascount[hk] && infn[hk] != count[hk]) {
			printf "%s: +Inf bucket %s, _count %s\n", hk, infn[hk], count[hk]; err = 1
		}
	}
	exit err
}
