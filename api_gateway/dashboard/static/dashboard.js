// The dashboard's only script (the Content-Security-Policy allows no other): live status of
// unfinished videos over server-sent events, copy buttons, and the image drop zone.
"use strict";

const TERMINAL = new Set(["completed", "failed", "cancelled"]);

function text(element, value) {
  if (element) element.textContent = value;
}

function showVideo(item, data) {
  const player = item.querySelector(".player");
  if (!player || !data.videoUrl || player.querySelector("video")) return;
  const video = document.createElement("video");
  video.controls = true;
  video.preload = "metadata";
  video.src = data.videoUrl;
  video.setAttribute("aria-label", "Video");
  const download = document.createElement("a");
  download.className = "button";
  download.href = data.videoUrl;
  download.download = "";
  download.textContent = "Download";
  player.append(video, download);
}

function finish(item, data) {
  const cancel = item.querySelector("form.cancel");
  if (cancel) cancel.remove();
  text(item.querySelector(".eta"), "");
  if (data.status === "completed") showVideo(item, data);
  if (data.status === "failed") {
    const reason = document.createElement("p");
    reason.className = "error";
    reason.textContent = "Failed: " + (data.error || "unknown reason") + " (reload for the refund)";
    item.querySelector(".player").before(reason);
  }
}

function update(item, data) {
  item.dataset.status = data.status;
  const status = item.querySelector(".status");
  text(status, data.status);
  status.className = "status status-" + data.status;
  const bar = item.querySelector("progress");
  if (bar) {
    bar.value = data.progress;
    bar.textContent = data.progress + " %";
  }
  if (TERMINAL.has(data.status)) {
    finish(item, data);
  } else {
    const queue = data.queuePosition ? ", " + data.queuePosition + " ahead in the queue" : "";
    text(item.querySelector(".eta"), "about " + data.estimatedTime + " s left" + queue);
  }
}

// One stream for every unfinished video on the page (a browser keeps six connections per host).
function watch(items) {
  const byId = new Map(items.map((item) => [item.dataset.uuid, item]));
  const query = new URLSearchParams(items.map((item) => ["uuid", item.dataset.uuid]));
  const source = new EventSource("/dashboard/videos/events?" + query);
  source.addEventListener("status", (event) => {
    const data = JSON.parse(event.data);
    const item = byId.get(data.uuid);
    if (!item) return;
    update(item, data);
    if (TERMINAL.has(data.status)) byId.delete(data.uuid);
    if (byId.size === 0) source.close();
  });
}

function copyButtons() {
  for (const button of document.querySelectorAll("button.copy")) {
    button.addEventListener("click", async () => {
      const field = document.getElementById(button.dataset.copy);
      try {
        await navigator.clipboard.writeText(field.value);
      } catch {
        field.select();
        document.execCommand("copy");
      }
      button.textContent = "Copied";
    });
  }
}

async function upload(file, input) {
  const state = document.getElementById("upload-state");
  const body = new FormData();
  body.append("file", file);
  text(state, "Uploading " + file.name + "…");
  const response = await fetch("/dashboard/upload", {
    method: "POST",
    body,
    headers: { "X-CSRF-Token": input.dataset.csrf },
    credentials: "same-origin",
  });
  const answer = await response.json();
  if (answer.code !== 0) {
    text(state, "Upload refused: " + answer.msg);
    return;
  }
  document.getElementById("f-imageKey").value = answer.data.imageKey;
  const type = document.getElementById("f-generationType");
  if (type) type.value = "image_to_video";
  text(state, "Uploaded " + file.name + ": it will be used for this video.");
}

function dropZone() {
  const zone = document.getElementById("dropzone");
  const input = document.getElementById("image-file");
  if (!zone || !input) return;
  input.addEventListener("change", () => {
    if (input.files.length) upload(input.files[0], input);
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    if (event.dataTransfer.files.length) upload(event.dataTransfer.files[0], input);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const moving = [...document.querySelectorAll("li.video")].filter(
    (item) => !TERMINAL.has(item.dataset.status),
  );
  if (moving.length) watch(moving);
  copyButtons();
  dropZone();
});
