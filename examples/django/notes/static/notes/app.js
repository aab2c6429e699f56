// Focuses the note field so the page can be used from the keyboard straight away.
document.addEventListener("DOMContentLoaded", function () {
  var field = document.querySelector("input[name=text]");
  if (field) {
    field.focus();
  }
});
