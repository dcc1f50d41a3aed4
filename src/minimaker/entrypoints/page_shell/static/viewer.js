// The model viewer: a finished model's GLB, turned and zoomed in the page with three.js
// (vendored under vendor/three/, served by MiniMaker; no CDN). Offered only where a GLB
// exists and JavaScript runs; the downloads stay the way to get the files.
import * as THREE from "./vendor/three/three.module.js";
import { GLTFLoader } from "./vendor/three/GLTFLoader.js";
import { OrbitControls } from "./vendor/three/OrbitControls.js";

function say(box, text) {
  let note = box.querySelector(".viewer-note");
  if (!note) {
    note = document.createElement("p");
    note.className = "viewer-note muted";
    note.setAttribute("role", "status");
    box.appendChild(note);
  }
  note.textContent = text;
}

function fit(camera, controls, object) {
  const box = new THREE.Box3().setFromObject(object);
  const size = box.getSize(new THREE.Vector3()).length() || 1;
  const centre = box.getCenter(new THREE.Vector3());
  camera.near = size / 100;
  camera.far = size * 100;
  camera.position.copy(centre).add(new THREE.Vector3(0.3, -0.9, 0.8).multiplyScalar(size));
  camera.up.set(0, 0, 1);
  camera.updateProjectionMatrix();
  controls.target.copy(centre);
  controls.update();
}

function scene() {
  const world = new THREE.Scene();
  world.background = new THREE.Color(0xf3f5f8);
  world.add(new THREE.HemisphereLight(0xffffff, 0x445566, 2.2));
  const sun = new THREE.DirectionalLight(0xffffff, 2.5);
  sun.position.set(1, -1, 2);
  world.add(sun);
  return world;
}

function open(box) {
  const button = box.querySelector(".viewer-open");
  let renderer;
  try {
    renderer = new THREE.WebGLRenderer({ antialias: true });
  } catch (e) {
    say(box, "This browser cannot show 3D here. Download the model to view it.");
    return;
  }
  const canvas = renderer.domElement;
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", "The model in 3D: drag to turn it, scroll or pinch to zoom.");
  canvas.tabIndex = 0;
  box.appendChild(canvas);
  button.hidden = true;
  const width = canvas.clientWidth || 320;
  renderer.setPixelRatio(window.devicePixelRatio || 1);
  renderer.setSize(width, Math.round((width * 3) / 4), false);
  const camera = new THREE.PerspectiveCamera(40, 4 / 3, 0.1, 1000);
  const controls = new OrbitControls(camera, canvas);
  const world = scene();
  say(box, "Loading the model…");
  new GLTFLoader().load(
    box.dataset.glb,
    (gltf) => {
      world.add(gltf.scene);
      fit(camera, controls, gltf.scene);
      box.dataset.loaded = "true";
      say(box, "Drag to turn the model, scroll or pinch to zoom.");
    },
    undefined,
    () => say(box, "The model could not be loaded. Download it to view it."),
  );
  renderer.setAnimationLoop(() => {
    controls.update();
    renderer.render(world, camera);
  });
}

function enhance(root) {
  for (const box of root.querySelectorAll(".viewer[data-glb]")) {
    const button = box.querySelector(".viewer-open");
    if (!button || button.dataset.ready) continue;
    button.dataset.ready = "true";
    button.hidden = false;
    button.addEventListener("click", () => open(box));
  }
}

enhance(document);
// app.js puts a card in place when its model is done: offer the viewer there too.
document.addEventListener("minimaker:card", (event) => enhance(event.detail));
