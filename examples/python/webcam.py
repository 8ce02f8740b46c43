"""Webcam overlay with OpenCV and facetrack (pip install opencv-python; q quits)."""
import cv2
import facetrack

cap = cv2.VideoCapture(0)
if not cap.isOpened():
    raise SystemExit("no camera (cv2.VideoCapture(0) failed)")
tracker = facetrack.Tracker(smooth=True, threads=2)
while True:
    ok, frame = cap.read()  # BGR, H x W x 3 uint8
    if not ok:
        break
    for face in tracker.process(frame, channels="bgr"):
        colour = (0, 220, 40) if face.success else (0, 200, 250)
        for x, y in face.points:
            cv2.circle(frame, (int(round(x)), int(round(y))), 2, colour, -1)
        x, y, w, h = map(int, face.box)
        cv2.rectangle(frame, (x, y), (x + w, y + h), colour, 1)
        cv2.putText(frame, f"#{face.id} {face.confidence:.2f}", (x, y - 4),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1)
    cv2.imshow("facetrack", frame)
    if cv2.waitKey(1) & 0xFF == ord("q"):
        break
cap.release()
cv2.destroyAllWindows()
