# guides.awk - reads the transcripts of the guides for test-guides.sh (the
# rules are in its header). Items are numbered across the files in order.
#   mode=extract: writes DIR/N.where ("docs/x.md:12"), N.cmd and N.exp, or
#                 N.directive; prints the number of items
#   mode=update:  writes FILE.updated for each FILE: the same text with each
#                 command's expected output replaced by DIR/N.upd
function command_goes_on(line) {
  if (heredoc != "") {
    if (line == heredoc) { heredoc = ""; return 0 }
    return 1
  }
  if (line ~ /\\$/) return 1
  if (match(line, /<<'?[A-Za-z_]+'?$/)) {
    heredoc = substr(line, RSTART + 2)
    gsub(/'/, "", heredoc)
    return 1
  }
  return 0
}
function out(line) { if (mode == "update") print line > (FILENAME ".updated") }
function flush_expected(   i, f) {
  if (mode != "extract" || cur == "") return
  while (nexp > 0 && expected[nexp] == "") nexp--
  f = dir "/" cur ".exp"
  printf "" > f
  for (i = 1; i <= nexp; i++) print expected[i] > f
  close(f)
  nexp = 0
}
function emit_actual(   f, l) {
  if (mode != "update") return
  f = dir "/" cur ".upd"
  while ((getline l < f) > 0) out(l)
  close(f)
}
FNR == 1 { infence = 0; transcript = 0; incmd = 0; heredoc = ""; cur = ""; nexp = 0 }
/^```/ {
  if (!infence) { infence = 1; first = 1; info = substr($0, 4) }
  else {
    if (transcript && cur != "" && pending_blank && mode == "update") pending_blank = 0
    infence = 0; flush_expected(); cur = ""; transcript = 0
  }
  out($0)
  next
}
!infence {
  out($0)
  if ($0 ~ /^<!-- guide-test: [a-z ]+ -->$/) {
    n++
    d = $0; sub(/^<!-- guide-test: /, "", d); sub(/ -->$/, "", d)
    if (mode == "extract") {
      print FILENAME ":" FNR > (dir "/" n ".where"); close(dir "/" n ".where")
      print d > (dir "/" n ".directive"); close(dir "/" n ".directive")
    }
  }
  next
}
{
  if (first) { first = 0; transcript = (info == "sh" && substr($0, 1, 2) == "$ ") }
  if (!transcript) { out($0); next }
  if (incmd) {
    out($0)
    if (mode == "extract") print $0 > (dir "/" cur ".cmd")
    incmd = command_goes_on($0)
    if (!incmd) { if (mode == "extract") close(dir "/" cur ".cmd"); emit_actual() }
    next
  }
  if (substr($0, 1, 2) == "$ ") {
    flush_expected()
    if (cur != "" && pending_blank) out("")
    pending_blank = 0
    n++; cur = n
    out($0)
    if (mode == "extract") {
      print FILENAME ":" FNR > (dir "/" n ".where"); close(dir "/" n ".where")
      print substr($0, 3) > (dir "/" n ".cmd")
    }
    incmd = command_goes_on($0)
    if (!incmd) { if (mode == "extract") close(dir "/" n ".cmd"); emit_actual() }
    next
  }
  if (cur == "") { out($0); next }
  if (mode == "extract") expected[++nexp] = $0
  pending_blank = ($0 == "")
}
END { if (mode == "extract") { flush_expected(); print n + 0 } }
