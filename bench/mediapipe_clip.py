"""MediaPipe FaceMesh (legacy solutions API, CPU) over a video, frame by frame, as a
user would run it: decode with OpenCV, convert to RGB, process, keep the 468 points.
Prints one JSON line: frames, frames with a face, seconds (wall, whole loop).

    python bench/mediapipe_clip.py CLIP.mp4
"""
import json
import sys
import time

import cv2
import mediapipe as mp

t0 = time.time()
cap = cv2.VideoCapture(sys.argv[1])
mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1,
                                       refine_landmarks=False, min_detection_confidence=0.5)
frames = found = 0
while True:
    ok, bgr = cap.read()
    if not ok:
        break
    frames += 1
    res = mesh.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    if res.multi_face_landmarks:
        found += 1
        pts = [(p.x, p.y) for p in res.multi_face_landmarks[0].landmark]
print(json.dumps({"frames": frames, "found": found, "seconds": time.time() - t0}))
