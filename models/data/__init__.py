"""Dataset assembly: map every source onto the taxonomy, pseudo-label missing classes with the COCO
teacher, synthesise pause signs and composite footwear, and write a leak-free YOLO folder."""
