// eacgate console: the only script (the pages work without it). A button or form with
// data-confirm asks before it is sent.
document.addEventListener("submit", function (e) {
  var f = e.target;
  var msg = f.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) {
    e.preventDefault();
  }
});
