"""The bf16 check set: short passages in 13 languages and 9 scripts, written for this package (no data set's text).

``auto`` precision encodes them in fp32 and in bf16 on the model at hand: bf16 is allowed only where the
minimum cosine between the two embeddings of a text is at least ``precision.FIDELITY`` (0.9999, the
rule of issue 16). Their token ids, concatenated and cut to realistic lengths, are also the batches that
``auto`` times, so the timing runs on real tokens of several scripts rather than on one repeated id.
"""

CHECK_SET = (
    ("en", "The old bridge over the river was rebuilt in 1856 after a flood destroyed its wooden arches."),
    ("en", "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen inside the leaves."),
    ("de", "Die Stadtbibliothek öffnet am Montag wieder, nachdem das Dach im Winter repariert wurde."),
    ("es", "El puerto fue durante siglos el centro del comercio de lana entre Castilla y Flandes."),
    ("tr", "Kervansaraylar, İpek Yolu üzerindeki tüccarların geceyi güvenle geçirdiği büyük hanlardı."),
    ("vi", "Đồng bằng sông Cửu Long là vùng sản xuất lúa gạo lớn nhất của Việt Nam."),
    ("ru", "Первая железная дорога в России соединила Санкт-Петербург и Царское Село в 1837 году."),
    ("el", "Ο Παρθενώνας χτίστηκε τον πέμπτο αιώνα π.Χ. ως ναός της θεάς Αθηνάς στην Ακρόπολη."),
    ("ar", "تقع مدينة فاس القديمة في شمال المغرب، وتضم واحدة من أقدم الجامعات في العالم."),
    ("hi", "गंगा नदी हिमालय के गंगोत्री हिमनद से निकलती है और बंगाल की खाड़ी में गिरती है।"),
    ("th", "แม่น้ำเจ้าพระยาไหลผ่านกรุงเทพมหานครก่อนจะออกสู่อ่าวไทย"),
    ("zh", "长城始建于春秋战国时期，明代大规模重修，全长超过两万公里。"),
    ("ja", "富士山は日本で最も高い山で、二〇一三年に世界文化遺産に登録された。"),
    ("ko", "한글은 1443년 세종대왕이 백성을 위해 만든 문자로, 배우기 쉬운 것으로 알려져 있다."),
    ("en", "Who rebuilt the bridge?"),
    ("zh", "长城有多长？"),
)
