/* SongForge player: draws the song's peaks (peaks.json) on a canvas under an HTML
   audio element that streams with range requests; click or arrow keys seek. */
(function () {
  "use strict";
  /* Peaks as [min, max] pairs in -1..1: the audiowaveform JSON layout ({version, bits, data: [min, max, ...]})
     written by the synthesis stage, or a plain list of amplitudes. */
  function peaksOf(body) {
    if (body && Array.isArray(body.data)) {
      var scale = Math.pow(2, (body.bits || 8) - 1);
      var pairs = [];
      for (var i = 0; i + 1 < body.data.length; i += 2) { pairs.push([body.data[i] / scale, body.data[i + 1] / scale]); }
      return pairs;
    }
    var list = Array.isArray(body) ? body : (body && Array.isArray(body.peaks) ? body.peaks : []);
    return list.map(function (v) { var a = Math.abs(Number(v) || 0); return [-a, a]; });
  }

  function setup(player) {
    var canvas = player.querySelector("canvas");
    var audio = player.querySelector("audio");
    var peaks = [];
    var ctx = canvas.getContext("2d");

    function draw() {
      var width = canvas.width, height = canvas.height, middle = height / 2;
      ctx.clearRect(0, 0, width, height);
      var played = audio.duration ? audio.currentTime / audio.duration : 0;
      if (!peaks.length) {
        ctx.fillStyle = "#d8dbe2"; ctx.fillRect(0, middle - 1, width, 2);
        ctx.fillStyle = "#4b2bd6"; ctx.fillRect(0, middle - 1, width * played, 2);
        return;
      }
      var top = 0;
      for (var i = 0; i < peaks.length; i++) { top = Math.max(top, Math.abs(peaks[i][0]), Math.abs(peaks[i][1])); }
      top = top || 1;
      var bar = width / peaks.length;
      for (var j = 0; j < peaks.length; j++) {
        var high = middle - (peaks[j][1] / top) * (middle - 2);
        var low = middle - (peaks[j][0] / top) * (middle - 2);
        ctx.fillStyle = (j / peaks.length) < played ? "#4b2bd6" : "#8d90a0";
        ctx.fillRect(j * bar, high, Math.max(bar - 0.5, 0.5), Math.max(low - high, 1));
      }
    }

    function seekTo(fraction) {
      if (!audio.duration) { return; }
      audio.currentTime = Math.min(Math.max(fraction, 0), 1) * audio.duration;
      draw();
    }

    canvas.addEventListener("click", function (event) {
      var box = canvas.getBoundingClientRect();
      seekTo((event.clientX - box.left) / box.width);
    });
    canvas.addEventListener("keydown", function (event) {
      if (!audio.duration) { return; }
      var step = event.shiftKey ? 30 : 5;
      if (event.key === "ArrowRight") { audio.currentTime = Math.min(audio.currentTime + step, audio.duration); }
      else if (event.key === "ArrowLeft") { audio.currentTime = Math.max(audio.currentTime - step, 0); }
      else if (event.key === "Home") { audio.currentTime = 0; }
      else if (event.key === "End") { audio.currentTime = audio.duration; }
      else if (event.key === " ") { if (audio.paused) { audio.play(); } else { audio.pause(); } }
      else { return; }
      event.preventDefault();
      draw();
    });
    audio.addEventListener("timeupdate", function () {
      if (audio.duration) { canvas.setAttribute("aria-valuenow", String(Math.round(audio.currentTime / audio.duration * 100))); }
      draw();
    });
    audio.addEventListener("loadedmetadata", draw);

    var url = player.dataset.peaksUrl;
    if (url) {
      fetch(url, { credentials: "same-origin" })
        .then(function (response) { if (!response.ok) { throw new Error(String(response.status)); } return response.json(); })
        .then(function (body) { peaks = peaksOf(body); player.classList.add("has-peaks"); draw(); })
        .catch(function () { draw(); });
    }
    draw();
  }

  document.querySelectorAll(".player").forEach(setup);
}());
